"""The benchmark's events: generated once from a seed, produced once, replayed for paced runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import islice

import orjson
from confluent_kafka import Producer

from engine.pipeline.contract import PipelinePlugin

#: Input is produced uncompressed: faust's client (aiokafka) cannot read lz4 without the ``lz4``
#: package, which the project does not depend on, and every contender must read the same bytes.
INPUT_COMPRESSION = "none"

#: Otherwise the producer shape of ``streaminfer generate`` (idempotent, acks=all, batching).
_PRODUCER = {"enable.idempotence": True, "acks": "all", "linger.ms": 5, "compression.type": INPUT_COMPRESSION,
             "queue.buffering.max.messages": 500_000, "batch.num.messages": 10_000}


@dataclass
class Dataset:
    """N synthetic events of the pipeline's plugin, keyed by its entity key, as the bytes that go on the wire.

    Attributes:
        seed: Generator seed (same seed → byte-identical events).
        count: Events produced to the saturated-run topic.
        pool: ``(key, value, output id)`` of the first events, kept for paced runs and warm-ups.
        rows: Model rows the events encode to (sum of ``plugin.encode(chunk).rows``): one per event
            for fraud, one per distinct candidate for recs.
        produce_seconds: How long generating, encoding and producing took.
    """

    seed: int
    count: int
    pool: list[tuple[bytes, bytes, str]] = field(default_factory=list)
    rows: int = 0
    produce_seconds: float = 0.0

    @property
    def rows_per_event(self) -> float:
        """Average model rows per event (1.0 when every event is one row, or nothing was produced)."""
        return self.rows / self.count if self.count and self.rows else 1.0

    @classmethod
    def produce(cls, bootstrap: str, topic: str, count: int, seed: int, keep: int, plugin: PipelinePlugin,
                id_field: str, chunk: int = 8192, timeout_s: float = 600.0) -> Dataset:
        """Generate ``count`` events and produce them to ``topic``; keep the first ``keep`` in memory.

        Args:
            bootstrap: Kafka ``host:port``.
            topic: Fresh input topic.
            count: Events to produce.
            seed: Generator seed.
            keep: Events to keep for paced runs.
            plugin: Makes, keys and encodes the events.
            id_field: Event field that output records carry (kept with each pooled event).
            chunk: Events generated per step.
            timeout_s: Cap on the whole production.

        Returns:
            The dataset.

        Raises:
            TimeoutError: If production does not finish within ``timeout_s``.
        """
        started = time.monotonic()
        dataset = cls(seed, count)
        events_stream = plugin.synthetic_events(seed)
        producer = Producer({"bootstrap.servers": bootstrap, **_PRODUCER})
        produced = 0
        dumps, entity_key = orjson.dumps, plugin.entity_key
        while produced < count:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"producing the dataset took over {timeout_s}s ({produced}/{count})")
            events = list(islice(events_stream, min(chunk, count - produced)))
            if not events:
                raise RuntimeError(f"pipeline {plugin.name!r}: its synthetic stream ended after {produced} events")
            # Encoded only to count rows (recs: candidates per request); the tensors are dropped.
            dataset.rows += plugin.encode(events).rows
            for event in events:
                key, value = entity_key(event).encode(), dumps(event)
                _produce(producer, topic, key, value)
                if len(dataset.pool) < keep:
                    dataset.pool.append((key, value, event[id_field]))
            producer.poll(0)
            produced += len(events)
        remaining = producer.flush(max(1.0, timeout_s - (time.monotonic() - started)))
        if remaining:
            raise TimeoutError(f"{remaining} dataset records not delivered")
        dataset.produce_seconds = time.monotonic() - started
        return dataset


def _produce(producer: Producer, topic: str, key: bytes, value: bytes, timestamp: int = 0) -> None:
    """Produce one record, waiting for queue space (BufferError) instead of failing."""
    while True:
        try:
            producer.produce(topic, value, key, timestamp=timestamp)
            return
        except BufferError:
            producer.poll(0.05)
