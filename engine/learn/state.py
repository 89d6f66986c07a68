"""Learner state at rest: pickled, sealed with HMAC-SHA256, kept on a compacted Kafka topic.

Unpickling is code execution, so a blob is unpickled only after its MAC verifies under the configured
key (``STREAMINFER_LEARN__STATE_KEY``). The MAC also covers the component name, so a valid blob of one
component cannot be replayed as another. A blob that fails is refused with :class:`StateIntegrityError`;
the caller alerts and starts that component fresh.

Envelope: ``b"SIS1"`` + 32-byte MAC + pickle (protocol 5).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pickle
import secrets
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from engine.errors import StreaminferError

log = logging.getLogger("streaminfer.learn.state")

_MAGIC = b"SIS1"
_MAC_BYTES = 32
_CONTEXT = b"streaminfer-learn-state\x00"


class StateIntegrityError(StreaminferError):
    """A persisted state blob is not authentic under the configured key: it was refused, not unpickled."""


def _mac(key: bytes, component: str, payload: bytes) -> bytes:
    return hmac.new(key, _CONTEXT + component.encode() + b"\x00" + payload, hashlib.sha256).digest()


def seal(obj: Any, key: bytes, component: str) -> bytes:
    """Pickle ``obj`` and prepend a MAC binding it to ``key`` and ``component``."""
    payload = pickle.dumps(obj, protocol=5)
    return _MAGIC + _mac(key, component, payload) + payload


def unseal(blob: bytes, key: bytes, component: str) -> Any:
    """Verify and unpickle a sealed blob.

    Raises:
        StateIntegrityError: If the envelope is malformed or the MAC does not verify (nothing is unpickled).
    """
    if len(blob) < len(_MAGIC) + _MAC_BYTES or not blob.startswith(_MAGIC):
        raise StateIntegrityError(f"state {component!r}: not a sealed state blob ({len(blob)} bytes)")
    mac, payload = blob[len(_MAGIC):len(_MAGIC) + _MAC_BYTES], blob[len(_MAGIC) + _MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, component, payload)):
        raise StateIntegrityError(f"state {component!r}: HMAC-SHA256 mismatch — tampered, corrupted or "
                                  f"sealed with another key; refusing to unpickle it")
    return pickle.loads(payload)  # noqa: S301 — authenticated above


def load_or_create_key(configured: bytes | None, key_file: Path) -> bytes:
    """The configured key, else the one in ``key_file`` (created with 32 random bytes, mode 0600)."""
    if configured:
        return configured
    if key_file.is_file():
        return key_file.read_bytes().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    log.warning("no STREAMINFER_LEARN__STATE_KEY: generated a state key in %s (set the variable in production)",
                key_file)
    return key


class KafkaStateStore:
    """Component name → latest sealed blob, on a one-partition compacted topic.

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: The state topic (created compacted if missing).
        max_blob_bytes: Largest blob accepted (the topic's and producer's message size).
        config: Extra librdkafka properties.
        replication_factor: For creating the topic.
    """

    def __init__(self, bootstrap: str, topic: str, max_blob_bytes: int, config: dict[str, Any] | None = None,
                 replication_factor: int = 1) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.max_blob_bytes = max_blob_bytes
        self._config = dict(config or {})
        self._replication_factor = replication_factor
        self._producer: Producer | None = None
        self.saved = 0
        self.failed = 0

    def ensure_topic(self, timeout: float = 30.0) -> None:
        """Create the compacted state topic unless it exists."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap, **self._config})
        if self.topic in admin.list_topics(timeout=timeout).topics:
            return
        topic = NewTopic(self.topic, 1, self._replication_factor, config={
            "cleanup.policy": "compact", "max.message.bytes": str(self.max_blob_bytes + 65536),
            "min.compaction.lag.ms": "0", "segment.ms": "3600000"})
        try:
            admin.create_topics([topic], operation_timeout=timeout)[self.topic].result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def save(self, component: str, blob: bytes) -> bool:
        """Enqueue one blob (delivery confirmed by :meth:`flush`); False if it is too big."""
        if len(blob) > self.max_blob_bytes:
            log.error("state %s: %d bytes > max_blob_bytes %d; not saved", component, len(blob), self.max_blob_bytes)
            self.failed += 1
            return False
        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True,
                                       "acks": "all", "linger.ms": 5, "compression.type": "lz4",
                                       "message.max.bytes": self.max_blob_bytes + 65536, **self._config})
        while True:
            try:
                self._producer.produce(self.topic, blob, component.encode(), on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)
        return True

    def _on_delivery(self, error: KafkaError | None, _message: Any) -> None:
        if error is None:
            self.saved += 1
        else:
            self.failed += 1
            log.error("state checkpoint not delivered: %s", error)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for pending checkpoints; returns how many are still undelivered."""
        return self._producer.flush(timeout) if self._producer is not None else 0

    def load_all(self, timeout: float = 30.0) -> dict[str, bytes]:
        """Read the topic to its end; the latest blob of each component (tombstones remove it)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"{self.topic}-reader",
                             "enable.auto.commit": False, "isolation.level": "read_committed",
                             "fetch.message.max.bytes": self.max_blob_bytes + 65536, **self._config})
        latest: dict[str, bytes] = {}
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=timeout)
            if high <= low:
                return latest
            consumer.assign([TopicPartition(self.topic, 0, low)])
            deadline = time.monotonic() + timeout
            position = low
            while position < high and time.monotonic() < deadline:
                for message in consumer.consume(500, 0.5):
                    if message.error():
                        if message.error().code() == KafkaError._PARTITION_EOF:
                            continue
                        raise KafkaException(message.error())
                    position = message.offset() + 1
                    name = (message.key() or b"").decode(errors="replace")
                    if message.value() is None:
                        latest.pop(name, None)
                    else:
                        latest[name] = message.value()
            if position < high:
                raise StreaminferError(f"state topic {self.topic}: read {position - low} of {high - low} "
                                       f"records in {timeout:.0f} s")
        finally:
            consumer.close()
        return latest
