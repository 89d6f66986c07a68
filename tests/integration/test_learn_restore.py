"""kill -9 of the learner restores detectors and models (not a cold start); a tampered blob is refused."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest
from confluent_kafka import Producer

from engine.learn.process import LearnerProcess
from engine.learn.state import KafkaStateStore
from models.fraud.generator import FraudGenerator
from models.fraud.learning.devtools import FraudFeeder, LearnTopicSet, delete_topics, write_pipeline
from tests.integration.test_learn_stream import STATE_KEY, learn_config


@pytest.fixture()
def topics(kafka_bootstrap, unique_name):
    made = LearnTopicSet.named(unique_name("learn-restore"))
    made.create(kafka_bootstrap)
    yield made
    delete_topics(kafka_bootstrap, made.all())


@pytest.fixture()
def app_id(kafka_bootstrap, unique_name):
    """A fresh learner app id; its state and changelog topics are deleted afterwards."""
    name = unique_name("learn-restore-app")
    yield name
    delete_topics(kafka_bootstrap, [f"{name}-state", f"{name}-join-changelog"])


def _feed(feeder: FraudFeeder, generator: FraudGenerator, n: int) -> None:
    events, labels = generator.batch(n)
    feeder.transactions(events)
    feeder.scores(events)
    feeder.flush()
    feeder.labels(events, labels)
    feeder.flush()


def _learned(learner: LearnerProcess) -> float:
    return learner.value("streaminfer_learn_model_samples", model="river_logreg") or 0


def test_kill_9_restores_state_and_a_tampered_blob_is_refused(kafka_bootstrap, topics, app_id, tmp_path):
    pipeline = write_pipeline(tmp_path, "p", kafka_bootstrap, topics, learn_config(app_id))
    feeder = FraudFeeder(kafka_bootstrap, topics)
    generator = FraudGenerator(seed=9)
    state_topic = f"{app_id}-state"
    learners: list[LearnerProcess] = []

    def start(name: str) -> LearnerProcess:
        learners.append(LearnerProcess(pipeline, tmp_path / f"{name}.log", STATE_KEY).start())
        return learners[-1]

    try:
        first = start("first")
        _feed(feeder, generator, 400)
        first.wait_for("400 learned labels", lambda: _learned(first) >= 400)
        saved = first.value("streaminfer_learn_checkpoints_total", outcome="saved") or 0
        first.wait_for("two checkpoints after learning",
                       lambda: (first.value("streaminfer_learn_checkpoints_total", outcome="saved") or 0) >= saved + 2)
        first.kill()  # kill -9: no shutdown hook, no final checkpoint

        second = start("second")
        second.wait_for("restored state", lambda: second.value("streaminfer_learn_state_restored",
                                                               component="shadow") == 1)
        second.wait_for("the restored sample count", lambda: _learned(second) > 0)
        assert _learned(second) == 400, "a restored learner resumes, it does not start cold"
        assert second.value("streaminfer_learn_state_restored", component="detectors") == 1
        assert (second.value("streaminfer_learn_detector_updates", group="prediction") or 0) >= 400
        _feed(feeder, generator, 200)
        second.wait_for("600 learned labels", lambda: _learned(second) >= 600)
        assert second.stop() == 0

        # Tamper with the shadow models' blob on the state topic (the latest value of its key wins).
        blobs = KafkaStateStore(kafka_bootstrap, state_topic, 8 * 1024 * 1024).load_all()
        tampered = bytearray(blobs["shadow"])
        tampered[-10] ^= 0xFF
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        producer.produce(state_topic, bytes(tampered), b"shadow")
        assert producer.flush(10) == 0

        third = start("third")
        third.wait_for("the refusal", lambda: third.value("streaminfer_learn_state_restored",
                                                          component="shadow") == -1)
        assert third.value("streaminfer_learn_state_restored", component="detectors") == 1
        assert "HMAC-SHA256 mismatch" in (tmp_path / "third.log").read_text()
        _feed(feeder, generator, 100)
        third.wait_for("learning from scratch", lambda: _learned(third) >= 100)
        assert _learned(third) == 100, "the refused models start fresh (and the learner keeps running)"
        assert third.stop() == 0
    finally:
        for learner in learners:
            if learner.proc.poll() is None:
                learner.kill()

    # On-call sees it: `streaminfer alerts tail` finds the state_integrity alert.
    tail = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "alerts", "tail", "--pipeline", str(pipeline), "--from-beginning",
         "--kind", "state_integrity", "--max", "1", "--timeout", "20", "--json"],
        capture_output=True, text=True, timeout=60)
    assert tail.returncode == 0, tail.stderr
    alert = orjson.loads(tail.stdout.strip().splitlines()[0])
    assert (alert["kind"], alert["subject"], alert["severity"]) == ("state_integrity", "shadow", "critical")
    assert alert["evidence"]["detector"] == "hmac_sha256"
