"""What applying the topic catalog changed, or would change, per topic."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class TopicStatus(str, Enum):
    """Where one topic stands relative to its spec."""

    CREATED = "created"
    """The topic did not exist (and was created, unless this was a dry run)."""
    UPDATED = "updated"
    """Partitions or configs differed (and were aligned, unless this was a dry run)."""
    IN_SYNC = "in_sync"
    """The topic matches its spec."""
    DRIFT_NOT_FIXABLE = "drift_not_fixable"
    """Something differs that apply must not or cannot change (fewer partitions, another
    replication factor); fixable differences, if any, are still applied."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Change:
    """One setting that differs from the spec.

    Attributes:
        key: ``partitions``, ``replication_factor`` or a topic config name.
        old: Value on the broker (None when the topic is new).
        new: Value in the spec.
        note: Why it cannot be fixed, for unfixable drift.
    """

    key: str
    old: str | None
    new: str
    note: str = ""

    def __str__(self) -> str:
        text = f"{self.key}: {self.old} -> {self.new}"
        return f"{text} ({self.note})" if self.note else text


@dataclass(slots=True)
class TopicOutcome:
    """The comparison of one topic with its spec.

    Attributes:
        name: Topic name.
        status: Overall status.
        changes: Differences that apply fixes (or fixed).
        unfixable: Differences that apply leaves alone.
        unmanaged: Configs overridden on the topic that the spec does not mention; reported,
            never removed, so a hand-made emergency change is visible but not undone silently.
    """

    name: str
    status: TopicStatus
    changes: list[Change] = field(default_factory=list)
    unfixable: list[Change] = field(default_factory=list)
    unmanaged: dict[str, str] = field(default_factory=dict)


_VERBS = {
    TopicStatus.CREATED: ("created", "to create"),
    TopicStatus.UPDATED: ("updated", "to update"),
    TopicStatus.IN_SYNC: ("in sync", "in sync"),
    TopicStatus.DRIFT_NOT_FIXABLE: ("drift, not fixable", "drift, not fixable"),
}


@dataclass(slots=True)
class ApplyReport:
    """Per-topic outcome of :func:`~engine.topics.apply.apply_topics` or a drift check.

    Attributes:
        bootstrap: The broker address that was compared against.
        applied: False for a dry run or drift check: nothing was changed.
        topics: One outcome per catalog topic, in catalog order.
    """

    bootstrap: str
    applied: bool
    topics: list[TopicOutcome] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        """Whether every topic already matched its spec (nothing to do, no drift)."""
        return all(topic.status is TopicStatus.IN_SYNC for topic in self.topics)

    @property
    def drift(self) -> list[TopicOutcome]:
        """Topics with differences that apply cannot fix."""
        return [topic for topic in self.topics if topic.unfixable]

    def outcome(self, name: str) -> TopicOutcome:
        """The outcome of one topic.

        Raises:
            KeyError: If the topic was not part of this report.
        """
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(name)

    def render(self) -> str:
        """A human-readable report, one line per topic plus one per difference."""
        mode = "applied to" if self.applied else "compared with (nothing changed)"
        lines = [f"topics {mode} {self.bootstrap}:"]
        width = max((len(topic.name) for topic in self.topics), default=0)
        for topic in self.topics:
            verb = _VERBS[topic.status][0 if self.applied else 1]
            lines.append(f"  {topic.name:<{width}}  {verb}")
            lines += [f"  {'':<{width}}    {change}" for change in topic.changes]
            lines += [f"  {'':<{width}}    ! {change}" for change in topic.unfixable]
            lines += [
                f"  {'':<{width}}    ? {key}={value} (not in the spec; left alone)"
                for key, value in sorted(topic.unmanaged.items())
            ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()
