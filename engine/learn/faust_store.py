"""The join's :class:`~engine.learn.join.JoinStore` on a faust table: in memory, durable through its changelog.

faust owns the table: it creates the compacted changelog topic (``<app_id>-join-changelog``) and, on start,
restores the table from it before any reader runs. Writes bypass faust's producer, though:

- faust only lets ``table[key] = value`` run while a stream event is current, and the learner handles
  batches from its librdkafka readers, so the memory store is written directly, naming the source
  partition — the partition faust itself would pick — which keeps recovery co-partitioned;
- faust's ``send_changelog`` queues each record in a buffer that one task drains a record per event-loop
  turn; at the hot path's rate the join writes several thousand records/s and that buffer grew by
  ~15k records in a few seconds of catch-up (with back-pressure, the whole learner slowed to ~6k
  events/s). A librdkafka producer appends the same records (raw key and value bytes, ``None`` as the
  tombstone, exactly what faust's ``raw`` serializer writes and its recovery reads) for ~1 µs each.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, Producer

log = logging.getLogger("streaminfer.learn.changelog")


class ChangelogWriter:
    """Appends records to a faust table's changelog topic (idempotent, so each partition keeps its order).

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: The changelog topic (faust creates it before the table is recovered).
        config: Extra librdkafka properties.
    """

    def __init__(self, bootstrap: str, topic: str, config: dict[str, Any] | None = None) -> None:
        self.topic = topic
        self._config = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                        "linger.ms": 5, "compression.type": "lz4", **(config or {})}
        self._producer: Producer | None = None  # created on the first write: the topic exists by then
        self.failed = 0

    def append(self, partition: int, key: bytes, value: bytes | None) -> None:
        """Enqueue one record (``value=None``: a tombstone)."""
        if self._producer is None:
            self._producer = Producer(self._config)
        while True:
            try:
                self._producer.produce(self.topic, value, key, partition=partition, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def _on_delivery(self, error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            self.failed += 1
            log.error("join changelog record not delivered: %s", error)

    def flush(self, timeout: float = 10.0) -> int:
        """Wait until every appended record is acknowledged; returns how many are still pending."""
        return self._producer.flush(timeout) if self._producer is not None else 0


class FaustTableStore:
    """A faust ``Table`` (bytes keys and values) seen as a partition-aware key-value store.

    Args:
        table: ``app.Table(..., key_type=bytes, value_type=bytes)``.
        changelog: Appends to the table's changelog topic.
    """

    def __init__(self, table: Any, changelog: ChangelogWriter) -> None:
        self.table = table
        self.changelog = changelog

    def get(self, key: bytes) -> bytes | None:
        """The current value, or ``None``."""
        return self.table.data.get(key)

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Set in memory and append to the changelog partition."""
        self.table.data[key] = value
        self.changelog.append(partition, key, value)

    def delete(self, partition: int, key: bytes) -> None:
        """Remove in memory and append a tombstone (what faust's own ``del table[key]`` sends)."""
        self.table.data.pop(key, None)
        self.changelog.append(partition, key, None)

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every entry (after recovery: what the changelog restored)."""
        return list(self.table.data.items())

    def __len__(self) -> int:
        return len(self.table.data)
