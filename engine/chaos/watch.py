"""Follow a topic from its beginning with ``read_committed`` on a background thread.

Failure tests and ``streaminfer chaos`` need two views of an output topic: "how many committed
records are there now" (to kill a worker mid-stream, never after the fact) and "everything that was
ever committed" once every worker has stopped (so duplicates from a hand-over or a shutdown commit
are seen). One watcher started before the first worker gives both.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition


@dataclass(frozen=True, slots=True)
class CommittedRecord:
    """One record a ``read_committed`` reader saw."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: dict[str, str] = field(default_factory=dict)


def _record(message: Any) -> CommittedRecord:
    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (message.headers() or [])}
    return CommittedRecord(message.topic(), message.partition(), message.offset(), message.key(), message.value(),
                           message.timestamp()[1], headers)


class CommittedTopicWatcher:
    """Reads ``topic`` (all partitions, from offset 0) until stopped; thread-safe counters.

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: The topic to follow.
        config: Extra librdkafka properties (security settings of the cluster).

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(self, bootstrap: str, topic: str, config: dict[str, Any] | None = None) -> None:
        self.topic = topic
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"watch-{uuid.uuid4().hex[:10]}",
            "isolation.level": "read_committed", "auto.offset.reset": "earliest", "enable.auto.commit": False,
            # A broker restart mid-run must not end the watch: reconnect quietly.
            "log_level": 2, "error_cb": lambda _error: None, **(config or {}),
        })
        self._records: list[CommittedRecord] = []
        self._lock = threading.Lock()
        self._last_new = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{topic}", daemon=True)
        self.error: BaseException | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "CommittedTopicWatcher":
        """Assign every partition at offset 0 and start reading."""
        deadline = time.monotonic() + 30
        while True:
            try:
                metadata = self._consumer.list_topics(self.topic, timeout=10).topics[self.topic]
                if metadata.error is None and metadata.partitions:
                    break
            except KafkaException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {self.topic} has no metadata after 30 s")
            time.sleep(0.2)
        self._consumer.assign([TopicPartition(self.topic, p, 0) for p in sorted(metadata.partitions)])
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reading and close the consumer (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        try:
            self._consumer.close()
        except RuntimeError:
            pass  # already closed

    def __enter__(self) -> "CommittedTopicWatcher":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self._consumer.consume(2000, timeout=0.2)
                good = [_record(m) for m in batch if m.error() is None]
                if good:
                    with self._lock:
                        self._records.extend(good)
                        self._last_new = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 — surfaced by wait_for/settle
            self.error = exc

    # -- views ---------------------------------------------------------------------------------
    def count(self) -> int:
        """Committed records seen so far."""
        with self._lock:
            return len(self._records)

    def records(self) -> list[CommittedRecord]:
        """A copy of every committed record seen so far, in the order read (per partition: offset order)."""
        with self._lock:
            return list(self._records)

    def wait_for(self, count: int, timeout_s: float) -> int:
        """Block until at least ``count`` records were seen; returns the count (may be short on timeout)."""
        deadline = time.monotonic() + timeout_s
        while self.count() < count and time.monotonic() < deadline:
            self._raise_if_failed()
            time.sleep(0.05)
        return self.count()

    def settle(self, expected: int, quiet_s: float = 3.0, timeout_s: float = 120.0) -> list[CommittedRecord]:
        """Wait until ``expected`` records arrived and nothing new came for ``quiet_s`` (so duplicates
        committed late are seen too), or until the timeout; returns every record seen."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._raise_if_failed()
            with self._lock:
                enough = len(self._records) >= expected
                quiet = time.monotonic() - self._last_new >= quiet_s
            if enough and quiet:
                break
            time.sleep(0.05)
        return self.records()

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"watcher of {self.topic} failed: {self.error!r}") from self.error


def read_committed(bootstrap: str, topic: str, expected: int, timeout_s: float = 120.0, quiet_s: float = 3.0,
                   config: dict[str, Any] | None = None) -> list[CommittedRecord]:
    """Read ``topic`` from the beginning until ``expected`` records arrived and it was quiet for ``quiet_s``."""
    with CommittedTopicWatcher(bootstrap, topic, config) as watcher:
        return watcher.settle(expected, quiet_s=quiet_s, timeout_s=timeout_s)


def input_positions(records: Iterable[CommittedRecord]) -> list[tuple[int, int]]:
    """(partition, offset) of each input record: what the invariant expects an output for."""
    return [(r.partition, r.offset) for r in records]
