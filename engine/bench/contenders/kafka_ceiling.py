"""Kafka ceiling: consume → produce the same bytes, no decoding and no inference.

It uses the engine's own librdkafka configurations (``engine.ingest.kafka_clients``) and the same
delivery mode and commit interval, so the only difference to the engine is the work in between.
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from engine.bench.contenders.base import Contender, RunSpec, module_command, stop_flag
from engine.config.pipeline import load_pipeline
from engine.ingest.kafka_clients import consumer_config, producer_config


class KafkaCeiling(Contender):
    """Launcher of the pass-through (exactly-once, like the engine's default)."""

    name = "kafka_ceiling"
    transactional = True
    exactly_once = True
    infers = False

    def command(self, spec: RunSpec) -> list[str]:
        """This module as a process."""
        return module_command(__name__, spec)

    def settings_note(self) -> str:
        """How it runs."""
        return "confluent-kafka pass-through, engine's client configs, transactions at the commit interval"


def _clients(spec: RunSpec) -> tuple[Consumer, Producer]:
    settings = load_pipeline(spec.pipeline, **{
        "kafka.bootstrap_servers": spec.bootstrap, "kafka.group_id": spec.group_id,
        "kafka.transactional_id_prefix": spec.transactional_id,
        "kafka.delivery": "exactly-once" if spec.exactly_once else "at-least-once",
    })
    consumer_props = consumer_config(settings, "0")
    consumer_props["enable.auto.commit"] = False  # this loop commits itself, in both modes
    return Consumer(consumer_props), Producer(producer_config(settings, "0"))


def run(spec: RunSpec) -> int:
    """Pass records through until SIGTERM; commit every ``commit_interval_ms`` and once at the end."""
    stop = stop_flag()
    consumer, producer = _clients(spec)
    if spec.exactly_once:
        producer.init_transactions(30)
    consumer.subscribe([spec.input_topic])
    interval = spec.commit_interval_ms / 1000.0
    positions: dict[tuple[str, int], int] = {}
    in_transaction = False
    last_commit = time.monotonic()
    output = spec.output_topic

    def commit() -> None:
        nonlocal in_transaction, last_commit
        last_commit = time.monotonic()
        if not positions:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        if spec.exactly_once:
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
            in_transaction = False
        else:
            producer.flush(30)  # never commit an offset before its output is acknowledged
            consumer.commit(offsets=offsets, asynchronous=False)
        positions.clear()

    try:
        while not stop.is_set():
            # consume() waits until the batch is full or the timeout passes: keep the wait short so a
            # trickle of input is not held back (the ceiling should show Kafka's floor, not ours).
            messages = consumer.consume(spec.consume_batch, spec.max_delay_ms / 1000.0)
            if messages and spec.exactly_once and not in_transaction:
                producer.begin_transaction()
                in_transaction = True
            for message in messages:
                if message.error() is not None:
                    continue
                while True:
                    try:
                        producer.produce(output, message.value(), message.key())
                        break
                    except BufferError:
                        producer.poll(0.05)
                positions[(message.topic(), message.partition())] = message.offset() + 1
            producer.poll(0)
            if time.monotonic() - last_commit >= interval:
                commit()
        commit()
    finally:
        consumer.close()
        producer.flush(10)
    return 0


if __name__ == "__main__":
    sys.exit(run(RunSpec.from_json(sys.argv[1])))
