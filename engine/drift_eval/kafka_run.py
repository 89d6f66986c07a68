"""The Kafka leg: signals to a topic, the detector pipeline consumes them and alerts to a topic, alerts read back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from engine.drift_eval.detect import SignalDetectors, Watch, make_alert_manager
from engine.drift_eval.signals import SignalTrace
from engine.drift_eval.traces import StepTrace
from engine.errors import StreaminferError
from engine.alerts.manager import AlertPublisher

Say = Callable[[str], None]


class EvalTopics:
    """A private signal topic and alerts topic for one run (deleted afterwards unless kept)."""

    def __init__(self, bootstrap: str, run_id: str | None = None, partitions: int = 6) -> None:
        self.bootstrap = bootstrap
        run_id = run_id or uuid.uuid4().hex[:8]
        self.signal = f"drift-eval-{run_id}.signal"
        self.alerts = f"drift-eval-{run_id}.alerts"
        self.partitions = partitions

    def create(self) -> None:
        """Create both topics."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 3})
        futures = admin.create_topics([NewTopic(self.signal, self.partitions, 1), NewTopic(self.alerts, 1, 1)],
                                      operation_timeout=30)
        for future in futures.values():
            future.result(30)

    def delete(self) -> None:
        """Best-effort delete."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 3})
        for future in admin.delete_topics([self.signal, self.alerts], operation_timeout=30).values():
            try:
                future.result(30)
            except Exception:  # noqa: BLE001 — cleanup
                pass


def produce_signals(bootstrap: str, topic: str, traces: Sequence[SignalTrace]) -> int:
    """One record per signal value, keyed by stream (so each stream stays ordered in one partition)."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 50, "compression.type": "lz4", "batch.num.messages": 10_000,
                         "queue.buffering.max.messages": 1_000_000})
    count = 0
    for trace in traces:
        key = trace.name.encode()
        prefix = b'{"s":"' + key + b'","i":'
        for index, value in enumerate(trace.errors.tolist()):
            payload = prefix + str(index).encode() + b',"v":' + (b"1" if value else b"0") + b"}"
            while True:
                try:
                    producer.produce(topic, payload, key)
                    break
                except BufferError:
                    producer.poll(0.05)
            count += 1
        producer.poll(0)
    remaining = producer.flush(120)
    if remaining:
        raise StreaminferError(f"drift-eval: {remaining} signal records not acknowledged")
    return count


def produce_traces(bootstrap: str, topic: str, traces: Sequence[StepTrace]) -> int:
    """One record per step, ``{"s": stream, "i": step, "t": unit position, "v": {signal: value}}``, keyed
    by stream (each stream stays ordered in one partition). orjson writes floats that read back exactly,
    so the detectors behind Kafka see the very values of the direct run."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 50, "compression.type": "lz4", "batch.num.messages": 10_000,
                         "queue.buffering.max.messages": 1_000_000})
    dumps, count = orjson.dumps, 0
    for trace in traces:
        key = trace.name.encode()
        for step, values, position in trace.steps():
            payload = dumps({"s": trace.name, "i": step, "t": position, "v": values})
            while True:
                try:
                    producer.produce(topic, payload, key)
                    break
                except BufferError:
                    producer.poll(0.05)
            count += 1
        producer.poll(0)
    remaining = producer.flush(120)
    if remaining:
        raise StreaminferError(f"drift-eval: {remaining} signal records not acknowledged")
    return count


def detect_from_kafka(bootstrap: str, topics: EvalTopics, expected: int, detectors: Sequence[Watch],
                      cooldown_events: int, timeout_s: float, say: Say) -> tuple[int, int]:
    """Consume the signal topic through the learner's detector and alert classes; alerts go to Kafka.

    Records with a unit position ``t`` (plugin traces) use it as the alert clock; the others their index.

    Returns:
        (records consumed, alerts published).
    """
    publisher = AlertPublisher(bootstrap, topics.alerts)
    manager = make_alert_manager(cooldown_events, publisher)
    manager.keep_sent = False
    pipeline = SignalDetectors(detectors, manager)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topics.signal}-detectors",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "fetch.max.bytes": 16 * 1024 * 1024})
    consumer.assign([TopicPartition(topics.signal, p, OFFSET_BEGINNING) for p in range(topics.partitions)])
    consumed = 0
    deadline = time.monotonic() + timeout_s
    last_report = time.monotonic()
    loads, update = orjson.loads, pipeline.update
    try:
        while consumed < expected and time.monotonic() < deadline:
            for message in consumer.consume(10_000, 0.5):
                if message.error():
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        raise StreaminferError(f"drift-eval consumer: {message.error()}")
                    continue
                record = loads(message.value())
                update(record["s"], record["i"], record["v"], record.get("t"))
                consumed += 1
            if time.monotonic() - last_report > 15:
                say(f"  detectors: {consumed:,}/{expected:,} signal records consumed")
                last_report = time.monotonic()
    finally:
        consumer.close()
    if publisher.flush(30):
        raise StreaminferError("drift-eval: alerts not acknowledged")
    return consumed, manager.gate.published


def read_alerts(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Every alert on ``topic`` (read_committed), waiting until ``expected`` arrived or the timeout."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-reader",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    alerts: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(alerts) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                if not message.error():
                    alerts.append(orjson.loads(message.value()))
    finally:
        consumer.close()
    return alerts
