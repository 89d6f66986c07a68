"""``streaminfer learn`` on the real broker: the join in both orders, shadow records, one page per detector."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from engine.learn.process import LearnerProcess
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models.fraud.generator import BLOCK_SIZE, FraudGenerator
from models.fraud.learning.devtools import FraudFeeder, LearnTopicSet, delete_topics, write_pipeline

STATE_KEY = {"STREAMINFER_LEARN__STATE_KEY": "integration-test-key-0123456789"}


@pytest.fixture()
def topics(kafka_bootstrap, unique_name):
    made = LearnTopicSet.named(unique_name("learn"))
    made.create(kafka_bootstrap)
    yield made
    delete_topics(kafka_bootstrap, made.all())


@pytest.fixture()
def app_id(kafka_bootstrap, unique_name):
    """A fresh learner app id; the topics the learner creates for itself are deleted afterwards."""
    name = unique_name("learn-app")
    yield name
    delete_topics(kafka_bootstrap, [f"{name}-state", f"{name}-join-changelog"])


def learn_config(app_id: str, **sections) -> dict:
    """A learner that samples everything, starts at the beginning and checkpoints often."""
    return {"app_id": app_id, "sampling": {"feature_rate": 1.0, "join_rate": 1.0},
            "stream": {"start_from": "earliest", "batch_within_s": 0.1}, "alerts": {"cooldown_s": 3600},
            "state": {"checkpoint_interval_s": 1}, "join": {"sweep_interval_s": 1}, **sections}


def read_all(bootstrap: str, topic: str, partitions: int, timeout: float = 5.0) -> list[dict]:
    """Every committed record of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-check", "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    records, done = [], set()
    try:
        while len(done) < partitions:
            message = consumer.poll(timeout)
            if message is None:
                break
            if message.error():
                done.add(message.partition())
                continue
            records.append(orjson.loads(message.value()))
    finally:
        consumer.close()
    return records


def _abort(bootstrap: str, topics: LearnTopicSet, events: list[dict], transactional_id: str) -> None:
    """Scores and labels produced in a transaction that was then aborted (a fenced or failed producer)."""
    from models.fraud.learning.devtools import score_record
    from models.fraud.generator import make_label

    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id})
    producer.init_transactions(30)
    producer.begin_transaction()
    for event in events:
        producer.produce(topics.scores, score_record(event, 0, "aborted"), event["card_id"].encode())
        producer.produce(topics.labels, orjson.dumps(make_label(event, 0, 0)), event["card_id"].encode())
    producer.flush(30)
    producer.abort_transaction(30)


def test_learner_joins_both_orders_publishes_shadow_and_pages_once_per_detector(kafka_bootstrap, topics, app_id,
                                                                                  tmp_path, unique_name):
    pipeline = write_pipeline(tmp_path, "p", kafka_bootstrap, topics,
                              learn_config(app_id, shadow={"compare_every": 100, "time_windows_s": [300, 3600]}))
    learner = LearnerProcess(pipeline, tmp_path / "learner.log", STATE_KEY).start()
    feeder = FraudFeeder(kafka_bootstrap, topics)
    generator = FraudGenerator(seed=5)
    generator.batch(2 * BLOCK_SIZE)  # warm the per-card velocity windows
    try:
        learner.wait_for("metrics endpoint", lambda: learner.value("streaminfer_learn_join_pending") is not None)
        _abort(kafka_bootstrap, topics, generator.batch(50)[0], unique_name("aborted"))

        # Labels first: the learner has consumed every label before any of their scores exists.
        early, early_labels = generator.batch(300)
        feeder.transactions(early)
        feeder.labels(early, early_labels)
        feeder.flush()
        learner.wait_for("the early labels", lambda: (learner.value("streaminfer_learn_records_total",
                                                                     stream="labels") or 0) >= 300)
        feeder.scores(early)
        # Scores first: every score is consumed before its label is produced.
        late, late_labels = generator.batch(300)
        feeder.transactions(late)
        feeder.scores(late)
        feeder.flush()
        learner.wait_for("all scores", lambda: (learner.value("streaminfer_learn_records_total",
                                                               stream="scores") or 0) >= 600)
        feeder.labels(late, late_labels)
        feeder.flush()
        learner.wait_for("600 joins", lambda: sum(learner.value("streaminfer_learn_joined_total", order=o) or 0
                                                  for o in ("label_first", "score_first")) >= 600)
        assert learner.value("streaminfer_learn_joined_total", order="label_first") == 300
        assert learner.value("streaminfer_learn_joined_total", order="score_first") == 300

        # Drift: the generator's drift knob, from a block boundary on (its buffer keeps earlier drift).
        served = 2 * BLOCK_SIZE + 50 + 600  # warm-up, aborted, early, late
        before, _ = generator.batch(3 * BLOCK_SIZE - served)
        generator.set_drift(1.0)
        after, _ = generator.batch(BLOCK_SIZE)
        feeder.transactions(before + after)
        feeder.flush()
        total = 600 + len(before) + len(after)
        learner.wait_for("all transactions", lambda: (learner.value("streaminfer_learn_records_total",
                                                                     stream="transactions") or 0) >= total)
        learner.wait_for("the model samples gauge", lambda: (learner.value(
            "streaminfer_learn_model_samples", model="river_logreg") or 0) >= 600, timeout=20)
        # Every label arrived within the last 5 minutes: both time windows hold all 600 (gauge, then records).
        learner.wait_for("the time-window gauge", lambda: learner.value(
            "streaminfer_learn_model_window_metric", model="river_logreg", metric="n", window="300s") == 600,
            timeout=20)
        # read_committed (the scores and labels readers): the aborted 50 were never seen.
        assert learner.value("streaminfer_learn_records_total", stream="scores") == 600
        assert learner.value("streaminfer_learn_records_total", stream="labels") == 600
    finally:
        assert learner.stop() == 0, learner.log_tail()

    alerts = read_all(kafka_bootstrap, topics.alerts, 1)
    validate = SchemaRegistry(TopicCatalog.load()).validator("alerts")
    for alert in alerts:
        validate(alert)
    feature_alerts = [a for a in alerts if a["kind"] == "feature_drift"]
    per_key = Counter(a["dedup_key"] for a in alerts)
    assert all(n == 1 for n in per_key.values()), f"paged twice within the cooldown: {per_key}"
    boundary = after[0]["event_time"]
    drifted = {a["subject"] for a in feature_alerts if a["evidence"]["window"]["to_time"] >= boundary}
    assert drifted & {"log_amount", "card_present", "channel_code", "ip_risk_score", "is_new_device"}, feature_alerts

    shadow = read_all(kafka_bootstrap, topics.shadow, 6)
    shadow_validate = SchemaRegistry(TopicCatalog.load()).validator("fraud.shadow")
    for record in shadow:
        shadow_validate(record)
    assert len(shadow) == 600  # every joined event had its features
    assert {c["name"] for c in shadow[0]["challengers"]} == {"river_logreg", "river_hat"}
    comparisons = [record["comparison"] for record in shadow if "comparison" in record]
    assert comparisons  # at most one per batch learned, once 100 labels have passed since the last
    last = max(comparisons, key=lambda c: c["champion"]["n"])
    # The last comparison came at most compare_every (100) labels before the end: where exactly depends
    # on how the labels fell into learner batches (CI once saw it at 508 of 600).
    assert 500 < last["champion"]["n"] <= 600
    seen = last["champion"]["n"]  # both time windows still hold every label seen by then
    assert {window: standings["champion"]["n"] for window, standings in last["time_windows"].items()} == {
        "300s": seen, "3600s": seen}
    assert set(last["time_windows"]["300s"]["challengers"]) == {"river_logreg", "river_hat"}
