"""Kafka transactions on the real broker: committed data is visible, aborted data never is."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition


def _read_all(bootstrap: str, topic: str, isolation: str, expect_at_least: int, timeout_s: float = 20.0) -> list[bytes]:
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:6]}",
        "isolation.level": isolation, "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        values: list[bytes] = []
        import time

        deadline = time.monotonic() + timeout_s
        idle_polls = 0
        while time.monotonic() < deadline:
            batch = consumer.consume(500, timeout=0.5)
            if not batch:
                idle_polls += 1
                if len(values) >= expect_at_least and idle_polls >= 4:
                    break
                continue
            idle_polls = 0
            values.extend(m.value() for m in batch if m.error() is None)
        return values
    finally:
        consumer.close()


def test_aborted_transaction_is_invisible_to_read_committed(kafka_bootstrap, make_topic) -> None:
    topic = make_topic("txn", partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap,
                         "transactional.id": f"test-txn-{uuid.uuid4().hex[:8]}",
                         "transaction.timeout.ms": 30000})
    producer.init_transactions(30)

    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, key=b"k", value=f"committed-{i}".encode(), partition=0)
    producer.commit_transaction(30)

    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, key=b"k", value=f"aborted-{i}".encode(), partition=0)
    producer.flush(30)  # the aborted records really reached the log
    producer.abort_transaction(30)

    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b"committed-after", partition=0)
    producer.commit_transaction(30)

    committed = _read_all(kafka_bootstrap, topic, "read_committed", expect_at_least=6)
    assert committed == [f"committed-{i}".encode() for i in range(5)] + [b"committed-after"]

    # The aborted records exist in the log: read_uncommitted sees them, so the filter above is real.
    uncommitted = _read_all(kafka_bootstrap, topic, "read_uncommitted", expect_at_least=11)
    assert sum(v.startswith(b"aborted-") for v in uncommitted) == 5
