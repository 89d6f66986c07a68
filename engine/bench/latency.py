"""read_committed readers of a contender's output: latency per event, and a full count afterwards.

Two latencies per event, both against the input record's timestamp (set by the paced producer):

- *record*: output record timestamp − input record timestamp (what the issue asks: both ends are
  record timestamps, taken when each record was handed to its producer);
- *visible*: wall-clock time a ``read_committed`` reader received the output − input timestamp.
  With transactions an output becomes visible only at commit, so this is what a downstream
  service waits; for exactly-once it includes up to one commit interval more than *record*.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition


def _reader(bootstrap: str, topic: str) -> Consumer:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "fetch.wait.max.ms": 5,
                         "enable.partition.eof": False})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    return consumer


def event_id_of(value: bytes | None, id_field: str = "event_id") -> str | None:
    """The id of the event an output (or pass-through input) record is for — its ``id_field``
    (fraud: ``event_id``, recs: ``request_id``) — None when absent or not JSON."""
    try:
        return orjson.loads(value).get(id_field) if value else None
    except (orjson.JSONDecodeError, AttributeError):
        return None


@dataclass(frozen=True)
class Percentiles:
    """p50/p95/p99 in milliseconds over ``count`` samples (None when there were none)."""

    p50: float | None
    p95: float | None
    p99: float | None
    count: int

    @classmethod
    def of(cls, samples: Iterable[float]) -> Percentiles:
        """Percentiles of ``samples`` (linear interpolation, numpy's default)."""
        values = np.fromiter(samples, dtype=np.float64)
        if values.size == 0:
            return cls(None, None, None, 0)
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return cls(round(float(p50), 2), round(float(p95), 2), round(float(p99), 2), int(values.size))


class LatencyReader:
    """Reads an output topic in a background thread, noting when each record became visible.

    Parsing is deferred to :meth:`latencies` so the thread costs little CPU while contenders run.

    Args:
        bootstrap: Kafka ``host:port``.
        topic: The contender's (fresh) output topic.
        id_field: Field of an output record naming its input event (see :func:`event_id_of`).
    """

    def __init__(self, bootstrap: str, topic: str, id_field: str = "event_id") -> None:
        self._consumer = _reader(bootstrap, topic)
        self._id_field = id_field
        self._seen: list[tuple[bytes | None, int, int]] = []  # value, record ts ms, received ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-latency-reader", daemon=True)

    def start(self) -> LatencyReader:
        """Start reading."""
        self._thread.start()
        return self

    @property
    def count(self) -> int:
        """Records received so far."""
        return len(self._seen)

    def _loop(self) -> None:
        consume, seen = self._consumer.consume, self._seen
        while not self._stop.is_set():
            # A short timeout bounds how late "received" can be noted (consume waits for a full batch).
            batch = consume(1000, 0.002)
            if not batch:
                continue
            received_ms = int(time.time() * 1000)
            seen.extend((m.value(), m.timestamp()[1], received_ms) for m in batch if m.error() is None)

    def stop(self) -> None:
        """Stop the thread and close the consumer."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()

    def latencies(self, produced_ms: dict[str, int]) -> tuple[Percentiles, Percentiles, int]:
        """Record and visible latency over the events in ``produced_ms``, and how many never arrived."""
        return match_latencies(self._seen, produced_ms, self._id_field)


def match_latencies(seen: Iterable[tuple[bytes | None, int, int]], produced_ms: dict[str, int],
                    id_field: str = "event_id") -> tuple[Percentiles, Percentiles, int]:
    """Pair outputs with the inputs that caused them, by event id.

    Args:
        seen: ``(output value, output record timestamp ms, received ms)`` in arrival order.
        produced_ms: Input record timestamp (ms) of every measured event, by event id.
        id_field: Field of an output record naming its input event.

    Returns:
        Record-timestamp latency, visible latency, and how many measured events never came out.
        Outputs of other events (warm-ups) are ignored; of duplicates only the first counts.
    """
    record, visible, matched = [], [], set()
    for value, output_ms, received_ms in seen:
        event_id = event_id_of(value, id_field)
        sent_ms = produced_ms.get(event_id) if event_id is not None else None
        if sent_ms is None or event_id in matched:
            continue
        matched.add(event_id)
        record.append(output_ms - sent_ms)
        visible.append(received_ms - sent_ms)
    return Percentiles.of(record), Percentiles.of(visible), len(produced_ms) - len(matched)


@dataclass(frozen=True)
class OutputScan:
    """What a full read of an output topic found."""

    records: int
    distinct: int
    first_ms: int | None
    last_ms: int | None

    @property
    def duplicates(self) -> int:
        """Records beyond the first per event id."""
        return self.records - self.distinct

    @property
    def span_s(self) -> float:
        """Seconds between the first and the last output record's timestamp."""
        if self.first_ms is None or self.last_ms is None:
            return 0.0
        return max(0.001, (self.last_ms - self.first_ms) / 1000.0)


def scan_output(bootstrap: str, topic: str, expected: int, timeout_s: float = 120.0,
                quiet_s: float = 1.0, id_field: str = "event_id") -> OutputScan:
    """Read ``topic`` from the start, read_committed, until every partition is at its end.

    Distinct outputs are counted by ``id_field`` (the event each record is for).

    Meant for a topic nobody writes any more. Stops when every partition's position reached its
    high watermark, or nothing new came for ``quiet_s`` (5 s while fewer than ``expected`` records
    arrived), or after ``timeout_s``.
    """
    consumer = _reader(bootstrap, topic)
    ids: set[str] = set()
    records, first_ms, last_ms = 0, None, None
    started = last_new = time.monotonic()
    try:
        while time.monotonic() - started < timeout_s:
            batch = consumer.consume(10_000, 0.2)
            for message in batch:
                if message.error() is not None:
                    continue
                records += 1
                ts = message.timestamp()[1]
                first_ms = ts if first_ms is None else min(first_ms, ts)
                last_ms = ts if last_ms is None else max(last_ms, ts)
                event_id = event_id_of(message.value(), id_field)
                if event_id is not None:
                    ids.add(event_id)
            now = time.monotonic()
            if batch:
                last_new = now
            elif now - last_new >= (quiet_s if records >= expected else max(quiet_s, 5.0)):
                break  # the contender has stopped: a quiet topic is a finished topic
            elif _at_end(consumer):
                break
    finally:
        consumer.close()
    return OutputScan(records, len(ids), first_ms, last_ms)


def _at_end(consumer: Consumer) -> bool:
    for tp in consumer.position(consumer.assignment()):
        _, high = consumer.get_watermark_offsets(tp, timeout=5, cached=False)
        if tp.offset < 0:
            if high > 0:
                return False
        elif tp.offset < high:
            return False
    return True
