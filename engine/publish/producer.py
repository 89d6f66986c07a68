"""Produce with back-pressure: a full local queue (BufferError) means poll for delivery reports and retry."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Producer

from engine.publish.records import OutputRecord


def produce_all(producer: Producer, records: list[OutputRecord], on_delivery: Callable | None = None) -> int:
    """Enqueue every record, in order; blocks (serving delivery callbacks) while librdkafka's queue is full.

    Returns:
        How many times the queue was full (each time the call polled for deliveries and retried).
    """
    produce = producer.produce
    full = 0
    for record in records:
        while True:
            try:
                # Positional topic/value/key and no empty kwargs: this call runs once per event.
                if on_delivery is not None:
                    produce(record.topic, record.value, record.key, headers=record.headers, on_delivery=on_delivery)
                elif record.headers is None:
                    produce(record.topic, record.value, record.key)
                else:
                    produce(record.topic, record.value, record.key, headers=record.headers)
                break
            except BufferError:
                full += 1
                producer.poll(0.05)  # frees queue space as deliveries complete
    producer.poll(0)
    return full
