"""Which offsets are safe to commit, and where to rewind to: the engine never commits an offset
whose output has not been produced (and, in exactly-once mode, committed in the same transaction)."""

from __future__ import annotations

from confluent_kafka import Message, TopicPartition

TopicPartitionKey = tuple[str, int]


class OffsetLedger:
    """Per partition: the next offset already committed (the rewind target) and the next offset
    published since the last commit (what the next commit will store)."""

    def __init__(self) -> None:
        self.committed: dict[TopicPartitionKey, int] = {}
        self.pending: dict[TopicPartitionKey, int] = {}

    def observe_consumed(self, messages: list[Message]) -> None:
        """The first record seen of a partition sets its rewind target if none is known yet."""
        committed = self.committed
        for message in messages:
            key = (message.topic(), message.partition())
            if key not in committed:
                committed[key] = message.offset()

    def published(self, positions: dict[TopicPartitionKey, int]) -> None:
        """Outputs up to these positions were produced (not yet committed)."""
        self.pending.update(positions)

    def to_commit(self) -> list[TopicPartition]:
        """Offsets the next commit stores."""
        return [TopicPartition(topic, partition, offset) for (topic, partition), offset in self.pending.items()]

    def mark_committed(self) -> None:
        """The pending positions are durable now."""
        self.committed.update(self.pending)
        self.pending.clear()

    def drop_pending(self) -> None:
        """The pending outputs were aborted: forget them (the records will be consumed again)."""
        self.pending.clear()

    def rewind_targets(self, assigned: list[TopicPartition]) -> list[TopicPartition]:
        """Where to seek each assigned partition so that nothing uncommitted is skipped."""
        targets = []
        for tp in assigned:
            offset = self.committed.get((tp.topic, tp.partition))
            if offset is not None:
                targets.append(TopicPartition(tp.topic, tp.partition, offset))
        return targets

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Partitions revoked or lost: their next owner decides from the group's committed offsets."""
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self.committed.pop(key, None)
            self.pending.pop(key, None)
