"""Bring a broker's topics in line with the catalog: create, grow, reconfigure, report drift."""

from __future__ import annotations

import os

from engine.errors import ConfigError
from engine.topics.broker import TopicAdmin
from engine.topics.plan import plan_topic
from engine.topics.report import ApplyReport, TopicOutcome, TopicStatus
from engine.topics.specs import TopicCatalog

REPLICATION_FACTOR_ENV = "STREAMINFER_TOPIC_REPLICATION_FACTOR"
DEFAULT_TIMEOUT_S = 10.0


def apply_topics(
    bootstrap: str,
    catalog: TopicCatalog,
    *,
    dry_run: bool = False,
    replication_factor: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ApplyReport:
    """Make the broker's topics match the catalog. Idempotent: a second run changes nothing.

    Creates missing topics, raises partition counts, sets configs that differ (incrementally:
    configs the spec does not mention are left alone). Never lowers a partition count or
    changes a replication factor: those are reported as drift that cannot be fixed.

    Args:
        bootstrap: ``host:port`` of a broker.
        catalog: Desired topics (see :meth:`TopicCatalog.with_name_prefix` to namespace them).
        dry_run: Only compare; change nothing.
        replication_factor: Replication factor for every topic, overriding the catalog; when
            None, the ``STREAMINFER_TOPIC_REPLICATION_FACTOR`` environment variable, if set.
        timeout_s: Limit for each broker call.

    Returns:
        Per-topic outcome, in catalog order.

    Raises:
        StackUnavailableError: If the broker does not answer (message names ``bootstrap``).
        TopicAdminError: If the broker refuses a change.
        ConfigError: If the replication factor override is invalid.
    """
    replication_factor = resolve_replication_factor(replication_factor)
    if replication_factor is not None:
        catalog = catalog.with_replication_factor(replication_factor)
    admin = TopicAdmin(bootstrap, timeout_s=timeout_s)
    states = admin.describe(catalog.names)
    report = ApplyReport(bootstrap=bootstrap, applied=not dry_run)
    for spec in catalog:
        outcome = plan_topic(spec, states.get(spec.name))
        if not dry_run:
            _fix(admin, catalog, outcome)
        report.topics.append(outcome)
    return report


def describe_drift(
    bootstrap: str,
    catalog: TopicCatalog,
    *,
    replication_factor: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ApplyReport:
    """Read-only check: how the broker's topics differ from the catalog.

    Same arguments and report as :func:`apply_topics` with ``dry_run=True``.
    """
    return apply_topics(
        bootstrap,
        catalog,
        dry_run=True,
        replication_factor=replication_factor,
        timeout_s=timeout_s,
    )


def _fix(admin: TopicAdmin, catalog: TopicCatalog, outcome: TopicOutcome) -> None:
    spec = catalog.spec(outcome.name)
    if outcome.status is TopicStatus.CREATED:
        admin.create(spec)
        return
    configs = {}
    for change in outcome.changes:
        if change.key == "partitions":
            admin.add_partitions(spec.name, spec.partitions)
        else:
            configs[change.key] = change.new
    if configs:
        admin.set_configs(spec.name, configs)


def resolve_replication_factor(explicit: int | None) -> int | None:
    """The replication factor override in force: ``explicit``, else the environment's.

    Args:
        explicit: From the caller (e.g. ``--replication-factor``); wins when given.

    Returns:
        The override, or None to keep each spec's own replication factor.

    Raises:
        ConfigError: If ``STREAMINFER_TOPIC_REPLICATION_FACTOR`` is set but not an integer >= 1.
    """
    if explicit is not None:
        return explicit
    from_env = os.environ.get(REPLICATION_FACTOR_ENV, "").strip()
    if not from_env:
        return None
    try:
        value = int(from_env)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{REPLICATION_FACTOR_ENV} must be an integer >= 1, got {from_env!r}")
    return value
