"""The learner's confluent-kafka side: the two firehoses, shadow records and lag probes.

faust pays roughly 250 µs per consumed record on the 2-core box (≈ 4k records/s for a whole app).
``fraud.transactions`` and ``fraud.scores`` both carry one record per event at the hot path's full
rate, so they are read with librdkafka batch consumes instead (~1 µs per record; transactions are
sampled by key before anything is decoded). Their positions are part of the learner's checkpointed
state — restored together with the detectors that consumed them — so they need no consumer group.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, Producer, TopicPartition

from engine.learn.core import RawRecord

log = logging.getLogger("streaminfer.learn.kafka")


class TopicReader:
    """Reads every partition of a firehose topic from the learner's own positions (read_committed).

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: Topic to read.
        start_positions: partition → next offset (from restored state); others start at ``start_from``.
        start_from: ``earliest`` or ``latest`` for partitions without a position.
        batch: Max records per poll.
        config: Extra librdkafka properties.
    """

    def __init__(self, bootstrap: str, topic: str, start_positions: dict[int, int], start_from: str,
                 batch: int, config: dict[str, Any] | None = None) -> None:
        self.topic = topic
        self.batch = batch
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"streaminfer-learn-reader-{topic}",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "isolation.level": "read_committed", "enable.partition.eof": False,
            # Small per-partition fetches interleave partitions during a catch-up (see poll()).
            "fetch.wait.max.ms": 100, "max.partition.fetch.bytes": 64 * 1024, **(config or {})})
        metadata = self._consumer.list_topics(topic, timeout=30).topics[topic]
        default = OFFSET_BEGINNING if start_from == "earliest" else OFFSET_END
        self.partitions = sorted(metadata.partitions)
        self._consumer.assign([TopicPartition(topic, p, start_positions.get(p, default)) for p in self.partitions])
        self.positions: dict[int, int] = dict(start_positions)

    def poll(self, timeout: float) -> list[RawRecord]:
        """Up to ``batch`` records (blocking up to ``timeout``); runs in an executor thread."""
        messages = []
        for message in self._consumer.consume(self.batch, timeout):
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("%s reader: %s", self.topic, message.error())
                continue
            messages.append(message)
            self.positions[message.partition()] = message.offset() + 1
        # Partitions arrive in chunks; ordering the batch by record timestamp hands the detectors a stream
        # close to time order (stable sort: each partition keeps its own order).
        messages.sort(key=lambda m: m.timestamp()[1])
        return [RawRecord(m.partition(), m.offset(), m.key(), m.value()) for m in messages]

    def lag(self) -> dict[int, int]:
        """partition → high watermark minus next position."""
        out = {}
        for p in self.partitions:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=5, cached=False)
            out[p] = max(0, high - self.positions.get(p, high))
        return out

    def close(self) -> None:
        """Leave (nothing to commit: positions live in the checkpoint)."""
        self._consumer.close()


class GroupLagProbe:
    """Lag of a consumer group (faust's) per partition, without joining it."""

    def __init__(self, bootstrap: str, group_id: str, topics: Iterable[str], config: dict[str, Any] | None = None):
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id,
                                   "enable.auto.commit": False, **(config or {})})
        self._topics = list(topics)

    def lag(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → high watermark minus committed offset (the whole partition if none)."""
        tps = []
        for topic in self._topics:
            metadata = self._consumer.list_topics(topic, timeout=5).topics[topic]
            tps += [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
        out = {}
        for tp in self._consumer.committed(tps, timeout=5):
            low, high = self._consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            committed = tp.offset if tp.offset >= 0 else low
            out[(tp.topic, tp.partition)] = max(0, high - committed)
        return out

    def close(self) -> None:
        """Release the client."""
        self._consumer.close()


class ShadowPublisher:
    """Produces shadow records (idempotent, lz4) to the shadow topic; callable as the core's sink."""

    def __init__(self, bootstrap: str, topic: str, config: dict[str, Any] | None = None) -> None:
        self.topic = topic
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                   "linger.ms": 20, "compression.type": "lz4", **(config or {})})

    def __call__(self, records: list[tuple[bytes, bytes]]) -> None:
        for key, value in records:
            while True:
                try:
                    self._producer.produce(self.topic, value, key)
                    break
                except BufferError:
                    self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for deliveries; returns how many are still pending."""
        return self._producer.flush(timeout)
