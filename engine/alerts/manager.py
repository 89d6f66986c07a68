"""Alerts for on-call: build schema-valid records, deduplicate them, publish them to ``alerts``.

Usable from any process, the hot path included::

    publisher = AlertPublisher("127.0.0.1:9092", topic="alerts")
    alerts = AlertManager(AlertBuilder("fraud", model_name="fraud", model_version="3"),
                          AlertGate(cooldown_ms=30 * 60_000), publisher)
    alerts.raise_alert("slo_breach", "p99_latency", {"detector": "slo", "summary": "p99 212 ms > 150 ms"})
    publisher.flush()

``raise_alert`` returns the published :class:`Alert`, or ``None`` when the gate suppressed it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import fastjsonschema
import orjson
from confluent_kafka import KafkaError, Message, Producer

from engine.alerts.gate import AlertGate
from engine.ingest.kafka_clients import quiet_client
from engine.topics.specs import TopicCatalog

log = logging.getLogger("streaminfer.alerts")

#: Kinds of the ``alerts`` schema (topics/schemas/alerts.v1.json); a unit test keeps them in sync.
ALERT_KINDS = ("feature_drift", "prediction_drift", "concept_drift", "challenger_wins", "slo_breach",
               "error_rate", "inference_down", "state_integrity", "rollout_rolled_back", "rollout_aborted",
               "rollout_promoted")
SEVERITIES = ("info", "warning", "critical")
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert record of the ``alerts`` topic (field meanings: see the schema)."""

    id: str
    pipeline: str
    kind: str
    severity: str
    subject: str
    model: dict[str, str]
    evidence: dict[str, Any]
    first_seen: int
    last_seen: int
    dedup_key: str
    count: int
    event_id: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_record(self) -> dict[str, Any]:
        """The JSON object, fields in contract order."""
        return {"id": self.id, "schema_version": self.schema_version, "pipeline": self.pipeline, "kind": self.kind,
                "severity": self.severity, "subject": self.subject, "model": self.model, "evidence": self.evidence,
                "first_seen": self.first_seen, "last_seen": self.last_seen, "dedup_key": self.dedup_key,
                "count": self.count, "event_id": self.event_id}


@dataclass
class AlertBuilder:
    """Stamps pipeline, champion model and ids on alerts.

    Args:
        pipeline: Pipeline name.
        model_name: Champion model name (updated by :meth:`set_model` as scores reveal it).
        model_version: Champion model version; ``"unknown"`` until known.
    """

    pipeline: str
    model_name: str
    model_version: str = "unknown"

    def set_model(self, name: str, version: str) -> None:
        """The champion changed (or became known)."""
        self.model_name, self.model_version = name, version or "unknown"

    def dedup_key(self, kind: str, subject: str, detector: str | None = None) -> str:
        """``<pipeline>/<kind>/<subject>[/<detector>]``: one incident per detector and subject."""
        return "/".join(part for part in (self.pipeline, kind, subject, detector) if part)[:256]

    def build(self, kind: str, severity: str, subject: str, evidence: Mapping[str, Any], *, dedup_key: str,
              first_seen: int, last_seen: int, count: int, event_id: str | None = None) -> Alert:
        """A complete alert (not yet validated)."""
        if kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {kind!r}")
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}")
        return Alert(id=f"alert-{uuid.uuid4().hex}", pipeline=self.pipeline, kind=kind, severity=severity,
                     subject=subject[:256], model={"name": self.model_name, "version": self.model_version},
                     evidence=dict(evidence), first_seen=first_seen, last_seen=last_seen, dedup_key=dedup_key,
                     count=count, event_id=event_id[:128] if event_id else None)


def alert_validator() -> Callable[[Any], Any]:
    """The compiled JSON Schema of the ``alerts`` topic."""
    catalog = TopicCatalog.load()
    return fastjsonschema.compile(catalog.read_schema(catalog.spec("alerts")))


class AlertPublisher:
    """Validates alerts against the schema and produces them (idempotent producer, orjson, key = dedup key).

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: Alerts topic (``alerts``; tests use private names).
        config: Extra librdkafka properties (security...).
        producer: A ready producer instead of building one (tests, sharing).
    """

    def __init__(self, bootstrap: str, topic: str = "alerts", *, config: Mapping[str, Any] | None = None,
                 producer: Producer | None = None) -> None:
        self.topic = topic
        self._validate = alert_validator()
        self._producer = producer or Producer({
            "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
            "client.id": "streaminfer-alerts", **quiet_client(), **(config or {})})
        self.delivered = 0
        self.failed = 0

    def publish(self, alert: Alert) -> None:
        """Validate and enqueue one alert; delivery is confirmed by :meth:`flush`.

        Raises:
            fastjsonschema.JsonSchemaValueException: If the alert breaks the contract (a bug).
        """
        record = alert.to_record()
        self._validate(record)
        while True:
            try:
                self._producer.produce(self.topic, orjson.dumps(record), alert.dedup_key.encode(),
                                       on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1
            log.error("alert not delivered to %s: %s", self.topic, error)

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for deliveries; returns how many are still pending."""
        return self._producer.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is pending; the publisher is not used afterwards."""
        remaining = self.flush(timeout)
        if remaining:
            log.error("%d alerts still undelivered at close", remaining)


@dataclass
class AlertManager:
    """Builder + gate + publisher: the one call detectors (and the hot path) make.

    Args:
        builder: Stamps pipeline, model and ids.
        gate: Deduplication and cooldown.
        publisher: Where alerts go; ``None`` only records them in :attr:`sent` (evaluations, tests).
        severity: Default severity per kind.
        clock_ms: Wall clock used when a caller passes no ``now_ms``.
    """

    builder: AlertBuilder
    gate: AlertGate
    publisher: AlertPublisher | None = None
    severity: Mapping[str, str] = field(default_factory=dict)
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)
    sent: list[Alert] = field(default_factory=list)
    keep_sent: bool = False

    def raise_alert(self, kind: str, subject: str, evidence: Mapping[str, Any], *, now_ms: int | None = None,
                    event_id: str | None = None, detector: str | None = None,
                    severity: str | None = None) -> Alert | None:
        """Offer one firing to the gate; publish and return the alert if the gate lets it through."""
        now = self.clock_ms() if now_ms is None else int(now_ms)
        dedup_key = self.builder.dedup_key(kind, subject, detector)
        decision = self.gate.offer(dedup_key, now)
        if not decision.publish:
            return None
        alert = self.builder.build(kind, severity or self.severity.get(kind, "warning"), subject, evidence,
                                   dedup_key=dedup_key, first_seen=decision.first_seen, last_seen=decision.last_seen,
                                   count=decision.count, event_id=event_id)
        if self.publisher is not None:
            self.publisher.publish(alert)
        if self.keep_sent or self.publisher is None:
            self.sent.append(alert)
        log.warning("alert %s %s %s (count %d): %s", alert.kind, alert.severity, alert.subject, alert.count,
                    alert.evidence.get("summary", ""))
        return alert
