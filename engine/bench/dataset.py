"""The benchmark's events: generated once from a seed, produced once, replayed for paced runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import orjson
from confluent_kafka import Producer

from models.fraud.generator import FraudGenerator

#: Input is produced uncompressed: faust's client (aiokafka) cannot read lz4 without the ``lz4``
#: package, which the project does not depend on, and every contender must read the same bytes.
INPUT_COMPRESSION = "none"

#: Otherwise the producer shape of ``streaminfer generate`` (idempotent, acks=all, batching).
_PRODUCER = {"enable.idempotence": True, "acks": "all", "linger.ms": 5, "compression.type": INPUT_COMPRESSION,
             "queue.buffering.max.messages": 500_000, "batch.num.messages": 10_000}


@dataclass
class Dataset:
    """N synthetic fraud transactions, keyed by card id, as the bytes that go on the wire.

    Attributes:
        seed: Generator seed (same seed → byte-identical events).
        count: Events produced to the saturated-run topic.
        pool: ``(key, value, event_id)`` of the first events, kept for paced runs and warm-ups.
        produce_seconds: How long generating and producing took.
    """

    seed: int
    count: int
    pool: list[tuple[bytes, bytes, str]] = field(default_factory=list)
    produce_seconds: float = 0.0

    @classmethod
    def produce(cls, bootstrap: str, topic: str, count: int, seed: int, keep: int,
                chunk: int = 8192, timeout_s: float = 600.0) -> Dataset:
        """Generate ``count`` events and produce them to ``topic``; keep the first ``keep`` in memory.

        Args:
            bootstrap: Kafka ``host:port``.
            topic: Fresh input topic.
            count: Events to produce.
            seed: Generator seed.
            keep: Events to keep for paced runs.
            chunk: Events generated per step.
            timeout_s: Cap on the whole production.

        Returns:
            The dataset.

        Raises:
            TimeoutError: If production does not finish within ``timeout_s``.
        """
        started = time.monotonic()
        dataset = cls(seed, count)
        generator = FraudGenerator(seed=seed)
        producer = Producer({"bootstrap.servers": bootstrap, **_PRODUCER})
        produced = 0
        dumps = orjson.dumps
        while produced < count:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"producing the dataset took over {timeout_s}s ({produced}/{count})")
            events, _ = generator.batch(min(chunk, count - produced))
            for event in events:
                key, value = event["card_id"].encode(), dumps(event)
                _produce(producer, topic, key, value)
                if len(dataset.pool) < keep:
                    dataset.pool.append((key, value, event["event_id"]))
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
