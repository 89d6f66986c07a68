"""The retrain loop on the real broker: transactions and labels read back from Kafka → fraud version N+1."""

from __future__ import annotations

import json

import orjson
from confluent_kafka import Producer

from engine.config.pipeline import PipelineSettings
from engine.lifecycle.retrain import read_recent, retrain
from models import triton_repo
from models.fraud.export import build_fraud_model
from models.fraud.generator import FraudGenerator, make_label
from models.fraud.pipeline import FraudPipeline

EVENTS = 20_000
DAY_MS = 86_400_000


def produce(producer: Producer, topic: str, records, key=None, partition: int | None = None) -> None:
    """Produce JSON values (bytes as they are), retrying when the local queue is full."""
    for record in records:
        value = record if record is None or isinstance(record, bytes) else orjson.dumps(record)
        extra = {} if partition is None else {"partition": partition}
        while True:
            try:
                producer.produce(topic, value, key(record) if key else None, **extra)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)


def test_read_recent_takes_the_newest_committed_records_of_every_partition(kafka_bootstrap, make_topic, unique_name):
    topic = make_topic("retrain.recent", 3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for p in range(3):
        produce(producer, topic, [{"p": p, "i": i} for i in range(300)], partition=p)
    produce(producer, topic, [b"{not json", None, b"[1]"], partition=0)  # inside the newest window
    assert producer.flush(30) == 0
    aborted = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": unique_name("aborted")})
    aborted.init_transactions(30)
    aborted.begin_transaction()
    produce(aborted, topic, [{"p": 1, "i": -1}] * 20, partition=1)
    aborted.flush(30)
    aborted.abort_transaction(30)

    recent = read_recent(kafka_bootstrap, topic, 150, timeout_s=20)
    assert recent.complete
    assert recent.skipped == 3
    # Partition 0's window of 50 offsets holds 47 records and the 3 that are not JSON objects; partition 1's
    # ends with 20 aborted records and a transaction marker, so its newest 50 offsets hold 29 committed ones.
    kept = {p: sorted(r["i"] for r in recent.records if r["p"] == p) for p in range(3)}
    assert kept[0] == list(range(253, 300))
    assert kept[1] == list(range(271, 300))
    assert kept[2] == list(range(250, 300))
    everything = read_recent(kafka_bootstrap, topic, 10_000, timeout_s=20)
    assert (len(everything.records), everything.skipped) == (900, 3)


def test_retrain_from_kafka_writes_the_next_version(kafka_bootstrap, make_topic, tmp_path):
    inputs, labels = make_topic("retrain.in", 3), make_topic("retrain.labels", 3)
    events, truth = FraudGenerator(seed=21).batch(EVENTS)
    label_records = [make_label(e, int(y), e["event_time"] + DAY_MS) for e, y in zip(events, truth)]
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "linger.ms": 20,
                         "compression.type": "lz4"})
    by_card = lambda record: record["card_id"].encode()  # noqa: E731
    produce(producer, inputs, events, by_card)
    produce(producer, labels, label_records, by_card)
    assert producer.flush(60) == 0, "records not acknowledged"

    # A small champion, so the retrain warm-starts from a parent as it would in production.
    repository = tmp_path / "repository"
    champion = build_fraud_model(repository, cache_dir=tmp_path / "cache", n_events=5000, epochs=1)
    champion_bytes = (champion.path / triton_repo.TORCHSCRIPT_FILENAME).read_bytes()

    settings = PipelineSettings(name="fraud", kafka={"bootstrap_servers": kafka_bootstrap}, topics={"input": inputs})
    result = retrain(settings, FraudPipeline(), repository, max_events=50_000, timeout_s=40, labels_topic=labels)

    assert (result.inputs, result.labels, result.joined) == (EVENTS, EVENTS, EVENTS)
    assert (result.skipped_inputs, result.skipped_labels, result.complete) == (0, 0, True)
    build = result.build
    assert build.version == champion.version + 1
    assert build.path == repository / "fraud" / str(champion.version + 1) and build.path.is_dir()
    metadata = json.loads((build.path / triton_repo.METADATA_FILENAME).read_text())
    source = metadata["trained_from"]
    assert source["source"] == "kafka" and source["topics"] == [inputs, labels]
    assert (source["inputs"], source["labels"], source["examples"]) == (EVENTS, EVENTS, EVENTS)
    assert metadata["parent_version"] == champion.version and metadata["warm_start"] is True
    held_out = metadata["metrics"]["test"]
    assert held_out["n_events"] == EVENTS // 5
    assert held_out["roc_auc"] > 0.8, metadata["metrics"]
    assert (champion.path / triton_repo.TORCHSCRIPT_FILENAME).read_bytes() == champion_bytes
