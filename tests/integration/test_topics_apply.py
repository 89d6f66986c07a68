"""Topics as code against the real broker: create, idempotence, growth, drift, config changes.

Every test works under its own topic-name prefix, so runs never collide, and deletes its
topics afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from engine.errors import StackUnavailableError
from engine.topics import TopicCatalog, TopicStatus, apply_topics, describe_drift

TIMEOUT_S = 30.0


@pytest.fixture
def admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def catalog(admin: AdminClient) -> Iterator[TopicCatalog]:
    """The real catalog under a unique prefix; its topics are deleted after the test."""
    prefix = f"it-topics-{uuid.uuid4().hex[:8]}-"
    yield TopicCatalog.load().with_name_prefix(prefix)
    topics = admin.list_topics(timeout=TIMEOUT_S).topics
    existing = [name for name in topics if name.startswith(prefix)]
    if existing:
        for future in admin.delete_topics(existing, operation_timeout=TIMEOUT_S).values():
            future.result(timeout=TIMEOUT_S)


def changed(catalog: TopicCatalog, topic: str, **updates) -> TopicCatalog:
    """The catalog with one topic's spec changed (e.g. partitions, config)."""
    name = next(name for name in catalog.names if name.endswith(topic))
    specs = tuple(
        spec.model_copy(update=updates) if spec.name == name else spec for spec in catalog
    )
    return TopicCatalog(specs, catalog.base_dir)


def partitions_on_broker(admin: AdminClient, topic: str) -> int:
    return len(admin.list_topics(topic=topic, timeout=TIMEOUT_S).topics[topic].partitions)


def config_on_broker(admin: AdminClient, topic: str, key: str) -> str:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=TIMEOUT_S)
    return entries[key].value


def test_apply_creates_everything_then_is_idempotent(kafka_bootstrap, admin, catalog):
    first = apply_topics(kafka_bootstrap, catalog, timeout_s=TIMEOUT_S)
    assert [outcome.status for outcome in first.topics] == [TopicStatus.CREATED] * len(catalog)
    for spec in catalog:
        assert partitions_on_broker(admin, spec.name) == spec.partitions
    dlq = next(name for name in catalog.names if name.endswith("fraud.dlq"))
    assert config_on_broker(admin, dlq, "max.message.bytes") == "2097152"
    assert config_on_broker(admin, dlq, "min.insync.replicas") == "1"  # capped at RF 1

    second = apply_topics(kafka_bootstrap, catalog, timeout_s=TIMEOUT_S)
    assert second.in_sync, second.render()
    assert describe_drift(kafka_bootstrap, catalog, timeout_s=TIMEOUT_S).in_sync


def test_partitions_grow_but_never_shrink(kafka_bootstrap, admin, catalog):
    apply_topics(kafka_bootstrap, catalog, timeout_s=TIMEOUT_S)
    alerts = next(name for name in catalog.names if name.endswith("alerts"))
    transactions = next(name for name in catalog.names if name.endswith("fraud.transactions"))

    grown = changed(catalog, "alerts", partitions=2)
    outcome = apply_topics(kafka_bootstrap, grown, timeout_s=TIMEOUT_S).outcome(alerts)
    assert outcome.status is TopicStatus.UPDATED
    assert [str(change) for change in outcome.changes] == ["partitions: 1 -> 2"]
    assert partitions_on_broker(admin, alerts) == 2
    assert apply_topics(kafka_bootstrap, grown, timeout_s=TIMEOUT_S).in_sync

    shrunk = changed(grown, "fraud.transactions", partitions=3)
    report = apply_topics(kafka_bootstrap, shrunk, timeout_s=TIMEOUT_S)
    outcome = report.outcome(transactions)
    assert outcome.status is TopicStatus.DRIFT_NOT_FIXABLE
    assert [(c.key, c.old, c.new) for c in outcome.unfixable] == [("partitions", "6", "3")]
    assert [topic.name for topic in report.drift] == [transactions]
    assert partitions_on_broker(admin, transactions) == 6


def test_config_change_is_applied_and_dry_run_changes_nothing(kafka_bootstrap, admin, catalog):
    apply_topics(kafka_bootstrap, catalog, timeout_s=TIMEOUT_S)
    scores = next(name for name in catalog.names if name.endswith("fraud.scores"))
    spec = catalog.spec(scores)
    shorter = changed(catalog, "fraud.scores", config={**spec.config, "retention.ms": "3600000"})

    planned = describe_drift(kafka_bootstrap, shorter, timeout_s=TIMEOUT_S).outcome(scores)
    assert planned.status is TopicStatus.UPDATED
    assert config_on_broker(admin, scores, "retention.ms") == "604800000"

    applied = apply_topics(kafka_bootstrap, shorter, timeout_s=TIMEOUT_S).outcome(scores)
    assert [(c.key, c.old, c.new) for c in applied.changes] == [
        ("retention.ms", "604800000", "3600000")
    ]
    assert config_on_broker(admin, scores, "retention.ms") == "3600000"
    assert config_on_broker(admin, scores, "max.message.bytes") == "1048588"  # untouched
    assert apply_topics(kafka_bootstrap, shorter, timeout_s=TIMEOUT_S).in_sync


def test_unreachable_broker_is_one_clear_error():
    catalog = TopicCatalog.load()
    with pytest.raises(StackUnavailableError) as caught:
        apply_topics("127.0.0.1:1", catalog, timeout_s=2.0)
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "streaminfer stack up" in message
    assert "\n" not in message
