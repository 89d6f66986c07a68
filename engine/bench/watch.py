"""How far a running contender has got, checked cheaply from broker metadata (no record reads).

Reading every output record while a contender runs would steal CPU from it on a 2-core box, so
progress comes from offsets instead:

- non-transactional output: the sum of the output topic's high watermarks is the record count;
- transactional output: high watermarks also count commit markers, so progress is the contender
  group's committed input offsets, which exactly-once commits atomically with the outputs.
"""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition


class OutputWatcher:
    """Counts a contender's finished events.

    Args:
        bootstrap: Kafka ``host:port``.
        output_topic: Where the contender writes.
        input_topic: Where it reads (needed for transactional contenders).
        group_id: The contender's consumer group (needed for transactional contenders).
        transactional: Whether outputs are written in transactions.
    """

    def __init__(self, bootstrap: str, output_topic: str, input_topic: str | None = None,
                 group_id: str | None = None, transactional: bool = False) -> None:
        if transactional and not (input_topic and group_id):
            raise ValueError("a transactional contender is watched through its group's committed offsets")
        self.transactional = transactional
        # Never subscribes, so it never joins (or disturbs) the contender's group.
        self._consumer = Consumer({"bootstrap.servers": bootstrap,
                                   "group.id": group_id if transactional else f"bench-watch-{uuid.uuid4().hex[:8]}",
                                   "enable.auto.commit": False})
        topic = input_topic if transactional else output_topic
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._partitions = [TopicPartition(topic, p) for p in sorted(partitions)]

    def count(self) -> int:
        """Events finished so far (-1 when the broker did not answer this time)."""
        try:
            if self.transactional:
                committed = self._consumer.committed(self._partitions, timeout=5)
                return sum(max(0, tp.offset) for tp in committed)
            return sum(self._consumer.get_watermark_offsets(tp, timeout=5, cached=False)[1]
                       for tp in self._partitions)
        except KafkaException:
            return -1

    def close(self) -> None:
        """Close the metadata client."""
        self._consumer.close()
