"""Feeding a learner without the hot path: private topics, a stand-in champion, paced producing.

Used by the integration tests and for trying ``streaminfer learn`` on a laptop without Triton: the
generator's events go to a transactions topic, a fixed heuristic "champion" scores them into a scores
topic (records shaped exactly like the hot path's), and labels follow in the order the caller asks.
"""

from __future__ import annotations

import math
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from models.fraud.generator import make_label


@dataclass(frozen=True)
class LearnTopicSet:
    """The topics one learner touches."""

    transactions: str
    scores: str
    labels: str
    alerts: str
    shadow: str

    @classmethod
    def named(cls, prefix: str) -> LearnTopicSet:
        """``<prefix>.transactions`` etc."""
        return cls(*(f"{prefix}.{name}" for name in ("transactions", "scores", "labels", "alerts", "shadow")))

    def create(self, bootstrap: str, partitions: int = 6) -> None:
        """Create them (alerts: one partition, like the real one)."""
        admin = AdminClient({"bootstrap.servers": bootstrap})
        new = [NewTopic(t, 1 if t == self.alerts else partitions, 1) for t in self.all()]
        for future in admin.create_topics(new, operation_timeout=30).values():
            future.result(30)

    def all(self) -> list[str]:
        """Every name."""
        return [self.transactions, self.scores, self.labels, self.alerts, self.shadow]


def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Best-effort delete (cleanup)."""
    names = list(names)
    if not names:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})  # keep a reference: futures die with the handle
    for future in admin.delete_topics(names, operation_timeout=30).values():
        try:
            future.result(30)
        except Exception:  # noqa: BLE001 — cleanup
            pass


def write_pipeline(directory: Path, name: str, bootstrap: str, topics: LearnTopicSet,
                   learn: dict[str, Any] | None = None) -> Path:
    """A pipeline YAML on ``topics`` (and its ``.learn.yaml`` sibling when ``learn`` is given)."""
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": "fraud", "kafka": {"bootstrap_servers": bootstrap},
        "topics": {"input": topics.transactions, "input_schema": "fraud.transactions", "output": topics.scores,
                   "alerts": topics.alerts}}))
    if learn is not None:
        document = {"topics": {"labels": topics.labels, "shadow": topics.shadow}, **learn}
        (directory / f"{name}.learn.yaml").write_text(yaml.safe_dump(document))
    return path


def champion_score(event: dict[str, Any]) -> float:
    """A fixed, plausible fraud score from a few raw fields (stands in for the Triton model)."""
    z = (-4.0 + 3.0 * event["ip_risk_score"] + 1.5 * event["is_new_device"] + 0.8 * (not event["card_present"])
         + 0.6 * min(event["failed_auth_24h"], 5) + 0.4 * math.log1p(event["amount"] / (event["avg_amount_30d"] + 1)))
    return 1.0 / (1.0 + math.exp(-z))


def score_record(event: dict[str, Any], offset: int, topic: str, model_version: str = "1") -> bytes:
    """A ``fraud.scores`` record for ``event``, shaped like the hot path's."""
    now = int(time.time() * 1000)
    return orjson.dumps({"schema_version": 1, "event_id": event["event_id"], "score": champion_score(event),
                         "model": {"name": "fraud", "version": model_version},
                         "source": {"topic": topic, "partition": 0, "offset": offset},
                         "event_time": event["event_time"], "scored_time": now, "latency_ms": 1.0,
                         "pipeline": "fraud"})


class FraudFeeder:
    """Produces events, champion scores and labels to a :class:`LearnTopicSet` (idempotent producer)."""

    def __init__(self, bootstrap: str, topics: LearnTopicSet) -> None:
        self.topics = topics
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                   "linger.ms": 10, "queue.buffering.max.messages": 500_000,
                                   # As the engine and the generator write: the learner must read lz4.
                                   "compression.type": "lz4"})
        self._offset = 0

    def _produce(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                self._producer.poll(0.05)

    def transactions(self, events: Sequence[dict[str, Any]]) -> None:
        """The events themselves."""
        for event in events:
            self._produce(self.topics.transactions, event["card_id"].encode(), orjson.dumps(event))
        self._producer.poll(0)

    def scores(self, events: Sequence[dict[str, Any]], model_version: str = "1") -> None:
        """The stand-in champion's score of each event."""
        for event in events:
            self._offset += 1
            self._produce(self.topics.scores, event["card_id"].encode(),
                          score_record(event, self._offset, self.topics.transactions, model_version))
        self._producer.poll(0)

    def labels(self, events: Sequence[dict[str, Any]], labels: Sequence[int]) -> None:
        """Ground truth of each event."""
        now = int(time.time() * 1000)
        for event, label in zip(events, labels):
            self._produce(self.topics.labels, event["card_id"].encode(),
                          orjson.dumps(make_label(event, int(label), now)))
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything is acknowledged."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise RuntimeError(f"{remaining} records not acknowledged in {timeout} s")


class RecordFeed:
    """Turns generator events into :class:`~engine.learn.core.RawRecord` lists, as a consumer would see them:
    partition from the key, offsets growing per topic and partition."""

    def __init__(self, partitions: int = 6) -> None:
        self.partitions = partitions
        self.offsets: Counter = Counter()

    def records(self, topic: str, events: Sequence[dict[str, Any]], value: Callable[[dict[str, Any]], bytes]) -> list:
        """One record per event, valued by ``value(event)``."""
        from engine.learn.core import RawRecord

        out = []
        for event in events:
            key = event["card_id"].encode()
            partition = zlib.crc32(key) % self.partitions
            out.append(RawRecord(partition, self.offsets[(topic, partition)], key, value(event)))
            self.offsets[(topic, partition)] += 1
        return out


def memory_core(now_ms: int = 1_800_000_000_000, **sections: Any):
    """A :class:`~engine.learn.core.LearnCore` wired in memory: dict join, alerts kept in ``manager.sent``.

    Returns:
        (core, alert manager, list collecting the shadow records).
    """
    from prometheus_client import CollectorRegistry

    from engine.codec.decode import EventDecoder
    from engine.alerts.manager import AlertBuilder, AlertManager
    from engine.learn.core import LearnCore
    from engine.alerts.gate import AlertGate
    from engine.learn.join import DictJoinStore, ScoreLabelJoin
    from engine.learn.settings import LearnSettings
    from engine.learn.telemetry import LearnMetrics
    from engine.topics.registry import SchemaRegistry
    from engine.topics.specs import TopicCatalog
    from models.fraud.features import FraudFeatures
    from models.fraud.pipeline import FRAUD_STREAMS

    settings = LearnSettings(**sections)
    features = FraudFeatures()
    registry = SchemaRegistry(TopicCatalog.load())
    decoder = EventDecoder(registry.validator("fraud.transactions"), fast_path=registry.fast_path("fraud.transactions"))
    manager = AlertManager(AlertBuilder("fraud", "fraud"), AlertGate(int(settings.alerts.cooldown_s * 1000)))
    shadow: list[tuple[bytes, bytes]] = []
    core = LearnCore("fraud", settings, features.FEATURE_NAMES, features.extract, decoder,
                     ScoreLabelJoin(DictJoinStore(), int(settings.join.ttl_s * 1000), settings.join.max_pending),
                     manager, LearnMetrics("fraud", CollectorRegistry()), shadow_sink=shadow.extend,
                     clock_ms=lambda: now_ms, streams=FRAUD_STREAMS)
    return core, manager, shadow


def label_values(events: Sequence[dict[str, Any]], labels: Sequence[int], now_ms: int) -> Callable[[dict], bytes]:
    """``value`` function for :meth:`RecordFeed.records` producing each event's label record."""
    by_id = dict(zip((e["event_id"] for e in events), labels))
    return lambda event: orjson.dumps(make_label(event, int(by_id[event["event_id"]]), now_ms))

