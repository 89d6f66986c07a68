"""Tools for exercising the recs learner without the hot path: an in-memory core, an oracle champion
that knows the undrifted world, and records shaped like the wire's (tests, studies)."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import orjson

from models.recs.generator import RecsStream
from models.recs.world import device_index, sigmoid, surface_index

NOW = 1_800_000_000_000


class OracleChampion:
    """Ranks candidates by the world's true relevance at drift 0 (plus noise): good until tastes move.

    Args:
        stream: The stream whose world it knows.
        noise: Std of the Gaussian noise added to the true logit (0 = a perfect undrifted ranker).
        seed: Seed of the noise.
    """

    def __init__(self, stream: RecsStream, noise: float = 0.5, seed: int = 0) -> None:
        self.world = stream.world
        self.noise = noise
        self._rng = np.random.default_rng(seed)

    def rank(self, request: dict[str, Any], k: int = 10) -> tuple[list[str], list[float]]:
        """The top-k item ids and their scores — P(relevant), as the served ranker's — for one request."""
        ids = list(dict.fromkeys(request["candidates"]))
        world, context, n = self.world, request["context"], len(ids)
        user = world.resolve_users([request["user_id"]], 0.0)
        arr = np.asarray(ids, dtype=np.str_)
        items = world.view_items(world.item_index(arr), 0.0, arr)
        logit = world.relevance_logit(np.repeat(user.taste, n, axis=0), items, device_index([context["device"]] * n),
                                      surface_index([context["surface"]] * n), np.full(n, context["hour"]))
        logit = logit + self._rng.normal(0.0, self.noise, n)
        order = np.argsort(-logit, kind="stable")[: request.get("k", k)]
        return [ids[j] for j in order], [float(sigmoid(logit[j])) for j in order]


def ranked_value(request: dict[str, Any], items: Sequence[str], scores: Sequence[float], version: str = "1",
                 model: str = "recs") -> bytes:
    """A recs.ranked record value for a ranking of ``request``."""
    return orjson.dumps({
        "schema_version": 1, "request_id": request["request_id"], "user_id": request["user_id"],
        "items": [{"item_id": i, "score": s, "rank": r} for r, (i, s) in enumerate(zip(items, scores), 1)],
        "model": {"name": model, "version": version},
        "source": {"topic": "recs.requests", "partition": 0, "offset": 0},
        "request_time": request["request_time"], "ranked_time": request["request_time"] + 20, "latency_ms": 5.0,
        "pipeline": "recs"})


class RecsFeed:
    """Raw records as a consumer would see them: partition from the user key, offsets per topic and partition."""

    def __init__(self, partitions: int = 6) -> None:
        self.partitions = partitions
        self.offsets: Counter = Counter()

    def records(self, topic: str, items: Iterable[tuple[str, bytes]]) -> list:
        """``(user_id, value)`` pairs → :class:`~engine.learn.core.RawRecord` list."""
        from engine.learn.core import RawRecord

        out = []
        for user, value in items:
            key = user.encode()
            partition = zlib.crc32(key) % self.partitions
            out.append(RawRecord(partition, self.offsets[(topic, partition)], key, value))
            self.offsets[(topic, partition)] += 1
        return out


class RecsTraffic:
    """Requests, the oracle's rankings and simulated feedback, as the three topics' record values.

    Args:
        seed: Stream seed.
        noise: Oracle noise.
        **stream: Extra :class:`RecsStream` arguments.
    """

    def __init__(self, seed: int = 7, noise: float = 0.5, **stream: Any) -> None:
        self.stream = RecsStream(seed=seed, **stream)
        self.champion = OracleChampion(self.stream, noise, seed)

    def batch(self, n: int) -> tuple[list[dict], list[tuple[str, bytes]], list[tuple[str, bytes]], list[tuple[str, bytes]]]:
        """``n`` requests: (requests, request values, ranked values, feedback values) — values keyed by user."""
        requests = list(self.stream.requests(n))
        req_values, ranked, feedback = [], [], []
        for request in requests:
            items, scores = self.champion.rank(request)
            req_values.append((request["user_id"], orjson.dumps(request)))
            ranked.append((request["user_id"], ranked_value(request, items, scores)))
            for record in self.stream.feedback(request, items):
                feedback.append((request["user_id"], orjson.dumps(record)))
        return requests, req_values, ranked, feedback


def recs_memory_core(now_ms: int | Callable[[], int] = NOW, **sections: Any):
    """A :class:`~engine.learn.ranking.core.RankingCore` for the recs plugin, wired in memory.

    Returns:
        (core, alert manager — alerts in ``manager.sent`` —, list collecting comparison records).
    """
    from prometheus_client import CollectorRegistry

    from engine.alerts.gate import AlertGate
    from engine.alerts.manager import AlertBuilder, AlertManager
    from engine.codec.decode import EventDecoder
    from engine.learn.join import DictJoinStore
    from engine.learn.ranking.core import RankingCore
    from engine.learn.ranking.join import RankedFeedbackJoin
    from engine.learn.ranking.settings import RankingLearnSettings
    from engine.learn.telemetry import LearnMetrics
    from engine.topics.registry import SchemaRegistry
    from engine.topics.specs import TopicCatalog
    from models.recs.learning import recs_learning

    settings = RankingLearnSettings(**sections)
    registry = SchemaRegistry(TopicCatalog.load())
    decoder = EventDecoder(registry.validator("recs.requests"), fast_path=registry.fast_path("recs.requests"))
    manager = AlertManager(AlertBuilder("recs", "recs"), AlertGate(int(settings.alerts.cooldown_s * 1000)))
    sink: list[tuple[bytes, bytes]] = []
    clock = now_ms if callable(now_ms) else (lambda: now_ms)
    core = RankingCore("recs", settings, recs_learning(), decoder,
                       RankedFeedbackJoin(DictJoinStore(), int(settings.join.ttl_s * 1000), settings.join.max_pending),
                       manager, LearnMetrics("recs", CollectorRegistry()), shadow_sink=sink.extend, clock_ms=clock)
    return core, manager, sink


class RecsLearnTopics:
    """Private topics of one recs learner run: ``<prefix>.requests`` … ``.shadow`` (alerts: one partition)."""

    def __init__(self, prefix: str) -> None:
        self.requests, self.ranked, self.feedback = f"{prefix}.requests", f"{prefix}.ranked", f"{prefix}.feedback"
        self.alerts, self.shadow = f"{prefix}.alerts", f"{prefix}.shadow"

    def all(self) -> list[str]:
        """Every name."""
        return [self.requests, self.ranked, self.feedback, self.alerts, self.shadow]

    def create(self, bootstrap: str, partitions: int = 6) -> None:
        """Create them."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": bootstrap})
        new = [NewTopic(t, 1 if t in (self.alerts, self.shadow) else partitions, 1) for t in self.all()]
        for future in admin.create_topics(new, operation_timeout=30).values():
            future.result(30)


def write_recs_pipeline(directory: Any, name: str, bootstrap: str, topics: RecsLearnTopics,
                        learn: dict[str, Any]) -> Any:
    """A recs pipeline YAML on ``topics`` and its ``.learn.yaml`` sibling."""
    from pathlib import Path

    import yaml

    path = Path(directory) / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": "recs", "plugin": "models.recs.pipeline:RecsPipeline", "kafka": {"bootstrap_servers": bootstrap},
        "topics": {"input": topics.requests, "input_schema": "recs.requests", "output": topics.ranked,
                   "dead_letter": f"{topics.requests}.dlq", "alerts": topics.alerts},
        "triton": {"model_name": "recs"}}))
    document = {"topics": {"labels": topics.feedback, "shadow": topics.shadow}, **learn}
    (Path(directory) / f"{name}.learn.yaml").write_text(yaml.safe_dump(document))
    return path


class RecsFeeder:
    """Produces :class:`RecsTraffic` batches to a learner's topics (requests, then rankings, then feedback)."""

    def __init__(self, bootstrap: str, topics: RecsLearnTopics) -> None:
        from confluent_kafka import Producer

        self.topics = topics
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})

    def produce(self, topic: str, values: Iterable[tuple[str, bytes]]) -> None:
        """Produce ``(user, value)`` pairs keyed by user."""
        for user, value in values:
            while True:
                try:
                    self._producer.produce(topic, value, user.encode())
                    break
                except BufferError:
                    self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for delivery; raises if anything is left undelivered."""
        left = self._producer.flush(timeout)
        if left:
            raise RuntimeError(f"{left} records undelivered")
