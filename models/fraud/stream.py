"""Produces synthetic card transactions to Kafka at a steady rate, and their labels after a delay."""

from __future__ import annotations

import heapq
import random
import time
from dataclasses import dataclass, field

import orjson
from confluent_kafka import Producer

from engine.generate.malformed import malformed_payload
from engine.generate.stream import DeliveryTally
from engine.ingest.kafka_clients import quiet_client
from engine.publish.producer import produce_all
from engine.publish.records import OutputRecord
from models.fraud.generator import BLOCK_SIZE, FraudGenerator, make_label

#: Events generated and dropped before the first one produced. A new generator's cards have no history,
#: so their 24 h velocity features (transaction counts, amount sums, distinct merchants) climb for the
#: first ~15,000 events (5,000 cards; means measured per 5,000 events: log_txn_count_24h 1.04, 1.39,
#: 1.65, then 1.67-1.70 from there on). Unwarmed, that climb is a real drift of the stream's start:
#: the learner's feature detectors paged it in the demo (both runs checked) before the drift knob turned.
WARMUP_EVENTS = 3 * BLOCK_SIZE


@dataclass
class GenerateReport(DeliveryTally):
    """What a generation run produced (and, inherited, what the broker acknowledged: events,
    malformed records and labels)."""

    events: int = 0
    malformed: int = 0
    labels: int = 0
    fraud: int = 0
    seconds: float = 0.0           # whole run, including waiting for the last labels
    produce_seconds: float = 0.0   # until the last event was handed to the producer
    malformed_reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerateOptions:
    """One generation run: how many, how fast, what else."""

    count: int
    seed: int = 7
    rate: float = 0.0              # events/s; 0 = as fast as possible
    malformed: int = 0             # malformed records interleaved at random positions
    drift: float = 0.0             # generator drift knob at start
    drift_to: float | None = None  # drift after `drift_at` of the run (None: unchanged)
    drift_at: float = 0.5
    labels: bool = True
    label_delay_s: float = 2.0     # ground truth arrives this long after the event (fraud: 3x)
    chunk: int = 500
    warmup: int = WARMUP_EVENTS    # generated and dropped first, so the stream starts in steady state


class FraudStreamProducer:
    """Drives :class:`FraudGenerator` into ``transactions_topic`` (keyed by card id) and ``labels_topic``."""

    def __init__(self, bootstrap: str, transactions_topic: str = "fraud.transactions",
                 labels_topic: str = "fraud.labels") -> None:
        # Idempotent with acks=all: a broker restart mid-run makes librdkafka resend, never duplicate;
        # a record is only given up after message.timeout.ms (5 min), and then counted as failed.
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 5, "compression.type": "lz4",
                                  "queue.buffering.max.messages": 500000,
                                  **quiet_client()})
        self._report: GenerateReport | None = None
        self.transactions_topic = transactions_topic
        self.labels_topic = labels_topic

    def run(self, options: GenerateOptions, should_stop=lambda: False,
            report: GenerateReport | None = None) -> GenerateReport:
        """Produce ``options.count`` valid events (plus malformed ones); returns counts.

        ``report`` may be passed in to watch progress from another thread.
        """
        report = report if report is not None else GenerateReport()
        self._report = report
        generator = FraudGenerator(seed=options.seed, drift=options.drift)
        if options.warmup:
            generator.batch(options.warmup)
        rng = random.Random(options.seed)
        bad_positions = set(rng.sample(range(options.count), min(options.malformed, options.count)))
        due_labels: list[tuple[float, int, bytes, bytes]] = []
        started = time.monotonic()
        produced = 0
        while produced < options.count and not should_stop():
            if options.drift_to is not None and produced >= options.count * options.drift_at:
                generator.set_drift(options.drift_to)
            n = min(self._chunk(options), options.count - produced)
            events, labels = generator.batch(n)
            records = []
            for i, (event, label) in enumerate(zip(events, labels)):
                key = event["card_id"].encode()
                if produced + i in bad_positions:
                    reason, payload = malformed_payload(event, rng)
                    records.append(OutputRecord(self.transactions_topic, key, payload))
                    report.malformed += 1
                    report.malformed_reasons[reason] = report.malformed_reasons.get(reason, 0) + 1
                records.append(OutputRecord(self.transactions_topic, key, orjson.dumps(event)))
                if options.labels:
                    delay = options.label_delay_s * (3.0 if label else 1.0)
                    due = time.monotonic() + delay
                    label_ms = int((time.time() + delay) * 1000)
                    heapq.heappush(due_labels, (due, report.events + i, key,
                                                orjson.dumps(make_label(event, int(label), label_ms))))
            report.fraud += int(labels.sum())
            produce_all(self.producer, records, self._report.on_delivery)
            produced += n
            report.events += n
            report.labels += self._release_labels(due_labels, time.monotonic())
            if options.rate > 0:  # steady pacing: sleep until this chunk is due
                ahead = produced / options.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        report.produce_seconds = time.monotonic() - started
        # Ground truth still owed: wait for it (bounded by the longest delay).
        while due_labels and not should_stop():
            report.labels += self._release_labels(due_labels, time.monotonic())
            if due_labels:
                time.sleep(min(0.2, max(0.0, due_labels[0][0] - time.monotonic())))
        report.unacknowledged = self.producer.flush(120)
        report.seconds = time.monotonic() - started
        return report

    @staticmethod
    def _chunk(options: GenerateOptions) -> int:
        # Paced runs send small chunks (200 per second, one every ~5 ms) so the input
        # is smooth; bursts of 500 would be measured as batching latency downstream.
        if options.rate <= 0:
            return options.chunk
        return max(1, min(options.chunk, int(options.rate / 200)))

    def _release_labels(self, due: list, now: float) -> int:
        records = []
        while due and due[0][0] <= now:
            _, _, key, value = heapq.heappop(due)
            records.append(OutputRecord(self.labels_topic, key, value))
        produce_all(self.producer, records, self._report.on_delivery)
        return len(records)
