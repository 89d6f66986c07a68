"""The learner's confluent-kafka side: its three input topics, shadow records and lag.

faust pays roughly 300 µs per consumed record on the 2-core box (a bare faust agent reads ≈ 3k records/s).
The input, output and labels topics each carry one record per event (or per shown item) at the hot
path's full rate, so they are read with librdkafka batch consumes instead (a few µs per record; keys are
sampled before anything is decoded). Their positions are part of the learner's checkpointed state —
restored together with the detectors, learners and gate that consumed them — so they need no consumer
group and commit nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from engine.learn.core import RawRecord

log = logging.getLogger("streaminfer.learn.kafka")


class TopicReader:
    """Reads every partition of a firehose topic from the learner's own positions (read_committed).

    Partitions without a restored position start at ``start_from``, resolved to a concrete offset at once
    (see :attr:`positions`): saved with the next checkpoint, it makes a restart resume there instead of
    resolving ``latest`` again and skipping what arrived while the learner was down.

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: Topic to read.
        start_positions: partition → next offset (from restored state); others start at ``start_from``.
        start_from: ``earliest`` or ``latest`` for partitions without a position.
        batch: Max records per poll.
        keep: Key predicate (a sampler); records it rejects are dropped before anything else is read from
            them, and only counted (:attr:`consumed`) and covered by :attr:`positions`.
        config: Extra librdkafka properties.
    """

    def __init__(self, bootstrap: str, topic: str, start_positions: dict[int, int], start_from: str,
                 batch: int, keep: Callable[[bytes | None], bool] | None = None,
                 config: dict[str, Any] | None = None) -> None:
        self.topic = topic
        self.batch = batch
        self._keep = keep
        self.consumed = 0  # records read by the last poll, kept or not
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"streaminfer-learn-reader-{topic}",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "isolation.level": "read_committed", "enable.partition.eof": False,
            # A restored position that retention already deleted: read what is left rather than skip to the end.
            "auto.offset.reset": "earliest",
            # Small per-partition fetches interleave partitions during a catch-up (see poll()).
            "fetch.wait.max.ms": 100, "max.partition.fetch.bytes": 64 * 1024, **(config or {})})
        metadata = self._consumer.list_topics(topic, timeout=30).topics[topic]
        self.partitions = sorted(metadata.partitions)
        #: partition → next offset to read, for every partition (what the state reflects once handled).
        self.positions: dict[int, int] = dict(start_positions)
        for p in self.partitions:
            if p not in self.positions:
                low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)
                self.positions[p] = low if start_from == "earliest" else high
        self._consumer.assign([TopicPartition(topic, p, self.positions[p]) for p in self.partitions])

    def poll(self, timeout: float) -> list[RawRecord]:
        """Up to ``batch`` records (blocking up to ``timeout``), those ``keep`` accepts; runs in an executor thread.

        Afterwards :attr:`consumed` counts every record read and :attr:`positions` points past it.
        """
        keep, positions = self._keep, self.positions
        kept = []
        consumed = 0
        for message in self._consumer.consume(self.batch, timeout):
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("%s reader: %s", self.topic, message.error())
                continue
            consumed += 1
            positions[message.partition()] = message.offset() + 1
            # Most records of a sampled topic stop here: one CRC32 of the key, no record object, no decoding.
            if keep is None or keep(message.key()):
                kept.append(message)
        self.consumed = consumed
        # Partitions arrive in chunks; ordering the batch by record timestamp hands the detectors a stream
        # close to time order (stable sort: each partition keeps its own order).
        kept.sort(key=lambda m: m.timestamp()[1])
        return [RawRecord(m.partition(), m.offset(), m.key(), m.value()) for m in kept]

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
