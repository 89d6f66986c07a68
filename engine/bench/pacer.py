"""A producer that offers a fixed rate, stamping each input record's timestamp itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from confluent_kafka import Producer

from engine.bench.dataset import INPUT_COMPRESSION, _produce

#: Low linger: the input timestamp is taken at produce(), so batching delay counts as latency — as it
#: would for a real upstream service, but we keep it small so the figure is the contender's.
_PRODUCER = {"enable.idempotence": True, "acks": "all", "linger.ms": 1, "compression.type": INPUT_COMPRESSION,
             "queue.buffering.max.messages": 500_000}


class PacedProducer:
    """Produces records to one topic at a steady rate and remembers when each was produced.

    Args:
        bootstrap: Kafka ``host:port``.
        topic: Input topic of the contender under test.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.produced_ms: dict[str, int] = {}
        self._producer = Producer({"bootstrap.servers": bootstrap, **_PRODUCER})

    def produce_one(self, key: bytes, value: bytes) -> None:
        """Produce one warm-up record now and flush it (warm-ups are not in ``produced_ms``)."""
        _produce(self._producer, self.topic, key, value)
        self._producer.flush(5)

    def run(self, records: Sequence[tuple[bytes, bytes, str]], rate: float, max_seconds: float,
            should_stop: Callable[[], bool] = lambda: False) -> float:
        """Offer ``records`` at ``rate`` records/s, for at most ``max_seconds``.

        Args:
            records: ``(key, value, output id)`` to produce, in order.
            rate: Offered rate in records/s.
            max_seconds: Cap on the offering (records not due by then are not produced).
            should_stop: Polled every tick; True ends the run early.

        Returns:
            The achieved offered rate (records produced / seconds spent producing).
        """
        producer, topic, stamps = self._producer, self.topic, self.produced_ms
        started = time.monotonic()
        sent = 0
        total = len(records)
        while sent < total:
            elapsed = time.monotonic() - started
            if elapsed > max_seconds or should_stop():
                break
            due = min(total, int(elapsed * rate) + 1)
            if due <= sent:
                producer.poll(0)
                time.sleep(min(0.001, (due + 1 - elapsed * rate) / rate if rate else 0.001))
                continue
            now_ms = int(time.time() * 1000)
            for key, value, output_id in records[sent:due]:
                _produce(producer, topic, key, value, now_ms)
                stamps[output_id] = now_ms
            sent = due
            producer.poll(0)
        spent = max(1e-6, time.monotonic() - started)
        self._producer.flush(30)
        return sent / spent
