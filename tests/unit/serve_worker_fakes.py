"""Fakes for driving ServeWorker's loop without Kafka or Triton (used by test_serve_worker_control):
a consumer, a Triton client whose requests the test completes, a delivery that keeps the ledger
contract, a hand-moved clock, and a harness wiring them to a worker with the real BatchBuilder."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import orjson
from confluent_kafka import Message, TopicPartition

from engine.batching.batch_builder import BatchBuilder
from engine.codec.decode import EventDecoder
from engine.config.pipeline import PipelineSettings
from engine.inference.triton_client import InferenceOutcome
from engine.pipeline.contract import ModelInputs
from engine.metrics.serve_metrics import ServeMetrics
from engine.serve.delivery import RewindRequired
from engine.serve.worker import ServeWorker
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models.fraud.pipeline import FraudPipeline
from models.fraud.generator import FraudGenerator

IN = "fraud.transactions"
REGISTRY = SchemaRegistry(TopicCatalog.load())
EVENTS, _ = FraudGenerator(seed=11).batch(64)


def records(partition: int, offsets, value: bytes | None = None) -> list[Message]:
    """Consumed input records: valid fraud events (or ``value``) at these offsets."""
    now_ms = int(time.time() * 1000)
    return [Message(topic=IN, partition=partition, offset=o, key=f"card{o}".encode(),
                    value=value if value is not None else orjson.dumps(EVENTS[(17 * partition + o) % len(EVENTS)]),
                    timestamp=(1, now_ms)) for o in offsets]


class FakeConsumer:
    """Serves fed records in order, holding back those of paused partitions; records
    pause/resume calls and seeks. ``assignment`` is set by the test."""

    def __init__(self, partitions) -> None:
        self.assigned = [TopicPartition(IN, p) for p in partitions]
        self.queue: deque[Message] = deque()
        self.paused: set[int] = set()
        self.flow: list[tuple[str, list[int]]] = []  # ("pause" | "resume", partitions)
        self.seeks: list[tuple[int, int]] = []

    def feed(self, messages: list[Message]) -> None:
        self.queue.extend(messages)

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        out, held = [], deque()
        while self.queue and len(out) < num_messages:
            message = self.queue.popleft()
            (held if message.partition() in self.paused else out).append(message)
        self.queue.extendleft(reversed(held))
        return out

    def poll(self, timeout: float = -1) -> Message | None:
        got = self.consume(1, timeout)
        return got[0] if got else None

    def assignment(self) -> list[TopicPartition]:
        return list(self.assigned)

    def pause(self, partitions) -> None:
        self.flow.append(("pause", sorted(tp.partition for tp in partitions)))
        self.paused.update(tp.partition for tp in partitions)

    def resume(self, partitions) -> None:
        self.flow.append(("resume", sorted(tp.partition for tp in partitions)))
        self.paused.difference_update(tp.partition for tp in partitions)

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.partition, tp.offset))

    def close(self) -> None:
        pass


@dataclass
class Request:
    """One submitted Triton request; the test completes it."""

    inputs: ModelInputs
    on_done: object
    version: str | None = None

    @property
    def features(self) -> np.ndarray:
        """The fraud plugin's feature matrix of this request."""
        return self.inputs.tensors["features"]

    def succeed(self) -> None:
        self.on_done(InferenceOutcome({"score": np.full((self.inputs.rows, 1), 0.25, dtype=np.float32)}, "1"))

    def fail(self, retriable: bool = True) -> None:
        self.on_done(InferenceOutcome(None, "", "scripted failure", retriable))


class FakeInference:
    """Records submitted requests instead of sending them; ``ready`` answers health probes."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.ready = True
        self.probes = 0

    def submit(self, inputs: ModelInputs, on_done, model_version: str | None = None,
               timeout_s: float | None = None) -> None:
        self.requests.append(Request(inputs, on_done, model_version))

    def server_ready(self, version: str | None = None) -> bool:
        self.probes += 1
        return self.ready

    def close(self) -> None:
        pass


class FakeDelivery:
    """Records publish/commit/abort and keeps the ledger as the real deliveries do (publish →
    pending, commit → committed, abort → dropped); ``fail_publish``/``fail_commit`` make the next
    call raise RewindRequired."""

    def __init__(self, ledger) -> None:
        self.ledger = ledger
        self.published: list[tuple[list, dict]] = []
        self.commits: list[tuple[bool, dict]] = []  # (final, offsets it was asked to commit)
        self.aborts = 0
        self.fail_publish = self.fail_commit = False

    def publish(self, records, positions) -> None:
        if self.fail_publish:
            self.fail_publish = False
            raise RewindRequired("scripted publish failure")
        self.published.append((records, positions))
        self.ledger.published(positions)

    def commit_due(self) -> bool:
        return False

    def commit(self, consumer, final: bool = False) -> None:
        self.commits.append((final, {(tp.partition): tp.offset for tp in self.ledger.to_commit()}))
        if self.fail_commit:
            self.fail_commit = False
            raise RewindRequired("scripted commit failure")
        self.ledger.mark_committed()

    def abort(self) -> None:
        self.aborts += 1
        self.ledger.drop_pending()

    def close(self) -> None:
        pass

    def sources(self) -> list[tuple[str, int, int]]:
        """(topic kind, partition, offset) of every published record, in publish order."""
        out = []
        for batch, _ in self.published:
            for record in batch:
                if record.topic == "fraud.scores":
                    source = orjson.loads(record.value)["source"]
                    out.append(("score", source["partition"], source["offset"]))
                else:
                    headers = dict(record.headers)
                    out.append(("dlq", int(headers["streaminfer.dlq.partition"]), int(headers["streaminfer.dlq.offset"])))
        return out


class Clock:
    """A monotonic clock the test moves by hand (``time.time`` stays real)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """A ServeWorker wired to the fakes, with the loop's steps as short methods."""

    def __init__(self, max_rows=2, max_in_flight=4, partitions=(0,), backoff_s=1.0, breaker_threshold=100) -> None:
        settings = PipelineSettings(
            batching={"max_rows": max_rows, "max_delay_ms": 10_000, "max_in_flight": max_in_flight},
            kafka={"consume_batch": 100},
            triton={"retry_initial_backoff_s": backoff_s, "retry_max_backoff_s": 60.0,
                    "breaker_failure_threshold": breaker_threshold, "breaker_probe_interval_s": 1.0},
            alerts={"enabled": False}, metrics={"port": 0})
        builder = BatchBuilder(EventDecoder(REGISTRY.validator(IN)), FraudPipeline(), max_rows, 10.0)
        self.inference = FakeInference()
        self.metrics = ServeMetrics("fraud")
        self.worker = ServeWorker(settings, builder, self.inference, "w0", self.metrics)
        self.consumer = FakeConsumer(partitions)
        self.delivery = FakeDelivery(self.worker.ledger)
        self.worker.consumer, self.worker.delivery = self.consumer, self.delivery

    @property
    def requests(self) -> list[Request]:
        return self.inference.requests

    def consume(self, messages: list[Message]) -> None:
        self.consumer.feed(messages)
        self.worker._poll()

    def cycle(self) -> None:
        """Apply finished requests, publish what is ready, send what may go."""
        self.worker._collect(timeout_s=0.0)
        self.worker._publish_ready()
        self.worker._dispatch()


def scores(partition: int, offsets) -> list[tuple[str, int, int]]:
    return [("score", partition, o) for o in offsets]
