"""Produces a pipeline plugin's synthetic input stream to Kafka at a steady rate, with malformed records
mixed in on request, and accounts for every record the broker acknowledged."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Producer

from engine.generate.malformed import malformed_payload
from engine.ingest.kafka_clients import quiet_client
from engine.pipeline.contract import PipelinePlugin
from engine.publish.producer import produce_all
from engine.publish.records import OutputRecord


@dataclass
class DeliveryTally:
    """What the broker acknowledged of a generation run; ``on_delivery`` is the producer's callback."""

    acknowledged: int = 0          # records the broker acknowledged
    failed: int = 0                # records whose delivery failed for good
    unacknowledged: int = 0        # still unacknowledged when the final flush gave up
    first_failure: str = ""

    @property
    def complete(self) -> bool:
        """True when every record handed to the producer was acknowledged by the broker."""
        return not self.failed and not self.unacknowledged

    def on_delivery(self, error, _message) -> None:
        """librdkafka delivery report: count it."""
        if error is None:
            self.acknowledged += 1
            return
        self.failed += 1
        if not self.first_failure:
            self.first_failure = str(error)


@dataclass
class StreamReport(DeliveryTally):
    """What a generation run produced and what the broker acknowledged."""

    events: int = 0
    malformed: int = 0
    seconds: float = 0.0
    malformed_reasons: dict[str, int] = field(default_factory=dict)


class EventStreamProducer:
    """Drives ``events`` (a plugin's synthetic stream) into ``topic``, keyed by the plugin's entity key.

    Idempotent with acks=all, like the fraud generator: a broker restart mid-run makes librdkafka resend,
    never duplicate; a record given up after ``message.timeout.ms`` counts as failed (exit 1, never silent).
    """

    def __init__(self, bootstrap: str, topic: str, plugin: PipelinePlugin) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 5, "compression.type": "lz4", **quiet_client()})
        self.topic = topic
        self.plugin = plugin

    def run(self, events: Iterator[dict[str, Any]], count: int, rate: float = 0.0, malformed: int = 0,
            seed: int = 7, chunk: int = 200) -> StreamReport:
        """Produce ``count`` valid events (plus ``malformed`` bad records at random positions)."""
        report = StreamReport()
        rng = random.Random(seed)
        bad = set(rng.sample(range(count), min(malformed, count)))
        chunk = chunk if rate <= 0 else max(1, min(chunk, int(rate / 200)))  # paced runs: smooth input
        started = time.monotonic()
        records: list[OutputRecord] = []
        for position, event in zip(range(count), events):
            key = self.plugin.entity_key(event).encode()
            if position in bad:
                reason, payload = malformed_payload(event, rng)
                records.append(OutputRecord(self.topic, key, payload))
                report.malformed += 1
                report.malformed_reasons[reason] = report.malformed_reasons.get(reason, 0) + 1
            records.append(OutputRecord(self.topic, key, orjson.dumps(event)))
            report.events += 1
            if len(records) >= chunk:
                self._send(records, report)
                if rate > 0:
                    ahead = report.events / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
        self._send(records, report)
        report.unacknowledged = self.producer.flush(120)
        report.seconds = time.monotonic() - started
        return report

    def _send(self, records: list[OutputRecord], report: StreamReport) -> None:
        produce_all(self.producer, records, report.on_delivery)
        records.clear()
