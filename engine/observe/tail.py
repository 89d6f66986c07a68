"""Follows a topic from its end in a background thread and hands each record's value to a callback."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_END, Consumer, Message, TopicPartition

log = logging.getLogger("streaminfer.observe")


class TopicTail:
    """A read_committed reader of every partition of ``topic``, from what arrives after it starts.

    It joins no consumer group's assignment (partitions are assigned directly) and commits nothing: a
    watcher, not a processor. The callback runs on the tail's own thread.

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: Topic to follow.
        handle: Called with each record (errors are skipped); an exception stops the tail and is logged.
        name: Prefix of the throwaway group id (shows up in broker logs only).
    """

    def __init__(self, bootstrap: str, topic: str, handle: Callable[[Message], None], name: str = "tail") -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._handle = handle
        self._name = name
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-{topic}", daemon=True)

    def start(self, ready_timeout_s: float = 15.0) -> TopicTail:
        """Start following; returns once the partitions are assigned (or after ``ready_timeout_s``)."""
        self._thread.start()
        self._ready.wait(ready_timeout_s)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"{self._name}-{uuid.uuid4().hex[:6]}",
                             "isolation.level": "read_committed", "enable.auto.commit": False})
        try:
            partitions = consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
            consumer.assign([TopicPartition(self.topic, p, OFFSET_END) for p in partitions])
            self._ready.set()
            while not self._stop.is_set():
                for message in consumer.consume(200, timeout=0.5):
                    if message.error() is None:
                        self._handle(message)
        except Exception:  # noqa: BLE001 — a watcher must not take the demo down; say why it stopped
            log.exception("tail of %s stopped", self.topic)
        finally:
            self._ready.set()
            consumer.close()
