"""Compare a topic's spec with its state on the broker. Pure: no I/O, so unit-testable."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.topics.config_keys import normalize_config_value
from engine.topics.report import Change, TopicOutcome, TopicStatus
from engine.topics.specs import TopicSpec


@dataclass(frozen=True, slots=True)
class TopicState:
    """What the broker says about one existing topic.

    Attributes:
        name: Topic name.
        partitions: Partition count.
        replication_factor: Replicas per partition (the smallest, if partitions differ).
        config: Every config value of the topic, defaults included.
        overrides: The configs set on this topic specifically (source DYNAMIC_TOPIC_CONFIG).
    """

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)


def plan_topic(spec: TopicSpec, state: TopicState | None) -> TopicOutcome:
    """What it takes to bring one topic in line with its spec.

    Args:
        spec: The desired state.
        state: The current state, or None if the topic does not exist.

    Returns:
        The outcome that applying would have: ``changes`` lists what to fix (``partitions``
        for a partition increase, config names otherwise), ``unfixable`` what cannot be.
    """
    if state is None:
        return TopicOutcome(spec.name, TopicStatus.CREATED)

    changes: list[Change] = []
    unfixable: list[Change] = []
    if spec.partitions > state.partitions:
        changes.append(Change("partitions", str(state.partitions), str(spec.partitions)))
    elif spec.partitions < state.partitions:
        unfixable.append(
            Change(
                "partitions",
                str(state.partitions),
                str(spec.partitions),
                "Kafka cannot remove partitions; recreate the topic or raise the spec",
            )
        )
    if spec.replication_factor != state.replication_factor:
        unfixable.append(
            Change(
                "replication_factor",
                str(state.replication_factor),
                str(spec.replication_factor),
                "needs a partition reassignment (kafka-reassign-partitions)",
            )
        )

    wanted = spec.broker_config()
    for key, value in wanted.items():
        current = state.config.get(key)
        if current is None or normalize_config_value(key, current) != normalize_config_value(
            key, value
        ):
            changes.append(Change(key, current, value))

    unmanaged = {key: value for key, value in state.overrides.items() if key not in wanted}
    if unfixable:
        status = TopicStatus.DRIFT_NOT_FIXABLE
    elif changes:
        status = TopicStatus.UPDATED
    else:
        status = TopicStatus.IN_SYNC
    return TopicOutcome(spec.name, status, changes, unfixable, unmanaged)
