"""``streaminfer generate fraud`` on the real broker: the stream starts warm unless told otherwise."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from models.fraud.features import FEATURE_NAMES, FraudFeatures

COLUMN = FEATURE_NAMES.index("log_txn_count_24h")


def _generate(bootstrap: str, topic: str, *extra: str) -> None:
    subprocess.run([sys.executable, "-m", "engine.cli.main", "generate", "fraud", "--count", "6000", "--seed", "3",
                    "--no-labels", "--bootstrap", bootstrap, "--topic", topic, *extra],
                   check=True, capture_output=True, timeout=120)


def _first_events(bootstrap: str, topic: str, n: int) -> list[dict]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-check", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    events: list[dict] = []
    try:
        for _ in range(100):
            for message in consumer.consume(1000, 1.0):
                if not message.error():
                    events.append(orjson.loads(message.value()))
            if len(events) >= n:
                break
    finally:
        consumer.close()
    assert len(events) >= n, f"only {len(events)} of {n} events came back from {topic}"
    return sorted(events, key=lambda event: event["event_id"])[:n]


def test_the_stream_starts_in_steady_state_and_a_cold_start_is_available(kafka_bootstrap, make_topic):
    warm, cold = make_topic("generate-warm", partitions=1), make_topic("generate-cold", partitions=1)
    _generate(kafka_bootstrap, warm)
    _generate(kafka_bootstrap, cold, "--warmup", "0")
    features = FraudFeatures()
    warm_mean = float(np.mean(features.extract(_first_events(kafka_bootstrap, warm, 3000))[:, COLUMN]))
    cold_mean = float(np.mean(features.extract(_first_events(kafka_bootstrap, cold, 3000))[:, COLUMN]))
    # Steady state is ~1.67 (5,000 cards); a cold start's first events have almost no 24 h history.
    assert warm_mean > 1.55 and cold_mean < 1.25, (warm_mean, cold_mean)
