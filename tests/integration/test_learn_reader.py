"""The learner's librdkafka reader on the real broker: concrete start offsets, key filtering, exact resume."""

from __future__ import annotations

import time

from confluent_kafka import Producer

from engine.learn.kafka_io import TopicReader


def _produce(bootstrap: str, topic: str, keys: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i, key in enumerate(keys):
        producer.produce(topic, f'{{"n": {i}}}'.encode(), key)
    assert producer.flush(30) == 0


def _drain(reader: TopicReader, expected: int, timeout: float = 30.0) -> tuple[list, int]:
    """Poll until ``expected`` records were consumed (kept or not); returns (kept records, consumed)."""
    kept, consumed = [], 0
    deadline = time.monotonic() + timeout
    while consumed < expected and time.monotonic() < deadline:
        kept += reader.poll(0.5)
        consumed += reader.consumed
    return kept, consumed


def test_latest_is_resolved_at_start_so_a_restart_misses_nothing(kafka_bootstrap, make_topic):
    topic = make_topic("learn-reader", partitions=3)
    _produce(kafka_bootstrap, topic, [b"old-%d" % i for i in range(30)])         # before the learner existed
    first = TopicReader(kafka_bootstrap, topic, {}, "latest", batch=100)
    try:
        # Concrete offsets for every partition, empty or not: saved with the next checkpoint.
        assert sorted(first.positions) == [0, 1, 2] and sum(first.positions.values()) == 30
        start = dict(first.positions)
    finally:
        first.close()
    # The learner dies before reading anything; records arrive while it is down.
    _produce(kafka_bootstrap, topic, [b"new-%d" % i for i in range(40)])
    second = TopicReader(kafka_bootstrap, topic, start, "latest", batch=100)
    try:
        records, consumed = _drain(second, 40)
        assert consumed == 40 and sorted(r.key for r in records) == sorted(b"new-%d" % i for i in range(40))
        assert sum(second.positions.values()) == 70
    finally:
        second.close()


def test_records_rejected_by_key_are_counted_and_passed_over(kafka_bootstrap, make_topic):
    topic = make_topic("learn-reader-keep", partitions=3)
    keys = [b"card-%d" % i for i in range(300)]
    _produce(kafka_bootstrap, topic, keys)
    reader = TopicReader(kafka_bootstrap, topic, {}, "earliest", batch=64, keep=lambda key: key.endswith(b"7"))
    try:
        records, consumed = _drain(reader, 300)
        assert consumed == 300
        assert sorted(r.key for r in records) == sorted(k for k in keys if k.endswith(b"7"))
        assert all(r.value for r in records)
        assert sum(reader.positions.values()) == 300 and reader.lag() == {0: 0, 1: 0, 2: 0}
    finally:
        reader.close()
