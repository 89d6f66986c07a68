"""librdkafka configurations of the serve worker's consumer and producer, derived from settings."""

from __future__ import annotations

import logging
from typing import Any

from engine.config.pipeline import DeliveryMode, PipelineSettings

log = logging.getLogger("streaminfer.kafka")

#: Largest record the serve producer may write: a 2 MiB dead-letter value plus its headers.
DEAD_LETTER_MAX_BYTES = 2 * 1024 * 1024 + 64 * 1024


def _client_logger(level: int = logging.WARNING) -> logging.Logger:
    logger = logging.getLogger("streaminfer.librdkafka")
    logger.setLevel(level)
    return logger


class ThrottledErrorLog:
    """librdkafka ``error_cb``: one log line per error code per interval instead of a flood
    (a broker outage otherwise logs every reconnect attempt of every internal thread)."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self._last: dict[int, float] = {}

    def __call__(self, error) -> None:
        import time

        now = time.monotonic()
        code = error.code()
        if now - self._last.get(code, -1e9) >= self.interval_s:
            self._last[code] = now
            log.warning("kafka client: %s", error.str())


def quiet_client() -> dict[str, Any]:
    """librdkafka properties that route its logs through Python logging (CRIT and up only) and its
    errors through one throttled ``error_cb`` line, instead of raw ``%3|…|FAIL|…`` lines on stderr."""
    return {"logger": _client_logger(), "log_level": 2, "error_cb": ThrottledErrorLog()}


def consumer_config(settings: PipelineSettings, instance: str) -> dict[str, Any]:
    """Consumer: cooperative-sticky, read_committed, offsets only ever stored by the engine."""
    kafka = settings.kafka
    exactly_once = kafka.delivery == DeliveryMode.EXACTLY_ONCE
    return {
        "bootstrap.servers": kafka.bootstrap_servers,
        "group.id": kafka.group_id,
        "client.id": f"{settings.name}-{instance}",
        "partition.assignment.strategy": "cooperative-sticky",
        "isolation.level": "read_committed",  # never score an upstream aborted record
        "auto.offset.reset": "earliest",
        # EOS commits offsets inside the transaction; ALO stores them after delivery and auto-commits.
        "enable.auto.commit": not exactly_once,
        "enable.auto.offset.store": False,
        "auto.commit.interval.ms": 1000,
        "session.timeout.ms": kafka.session_timeout_ms,
        "max.poll.interval.ms": kafka.max_poll_interval_ms,
        "fetch.wait.max.ms": 10,
        "queued.min.messages": 20000,
        **quiet_client(),
        **kafka.client_security(),
    }


def producer_config(settings: PipelineSettings, instance: str) -> dict[str, Any]:
    """Producer: idempotent always; transactional with a stable id in exactly-once mode."""
    kafka = settings.kafka
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "client.id": f"{settings.name}-{instance}-producer",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 200000,
        "compression.type": "lz4",
        # A dead letter carries the original value: anything the input topic accepted must fit
        # (topics.yaml: fraud.transactions 1.5 MiB, fraud.dlq 2 MiB). Batches stay at batch.size.
        "message.max.bytes": DEAD_LETTER_MAX_BYTES,
        # message.timeout < transaction.timeout: a stuck record fails the transaction instead of
        # outliving it (STACK.md pitfalls).
        "message.timeout.ms": max(1000, kafka.transaction_timeout_ms - 5000),
        **quiet_client(),
        **kafka.client_security(),
    }
    if kafka.delivery == DeliveryMode.EXACTLY_ONCE:
        config["transactional.id"] = transactional_id(settings, instance)
        config["transaction.timeout.ms"] = kafka.transaction_timeout_ms
    return config


def transactional_id(settings: PipelineSettings, instance: str) -> str:
    """Stable per worker instance, so a restarted worker fences its own zombie."""
    return f"{settings.kafka.transactional_id_prefix}-{settings.name}-{instance}"
