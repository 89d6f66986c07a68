"""kill -9 between scores and their labels: the join table and the readers' positions come back together.

Labels are read by a librdkafka reader from positions saved with the learner's state: after a kill -9 the
labels already learned are not read again, the ones produced while the learner was down are all read, and
they join the scores that waited in the table (restored by faust from the changelog the learner wrote).
"""

from __future__ import annotations

import pytest

from engine.learn.process import LearnerProcess
from models.fraud.generator import FraudGenerator
from models.fraud.learning.devtools import FraudFeeder, LearnTopicSet, delete_topics, write_pipeline
from tests.integration.test_learn_stream import STATE_KEY, learn_config


@pytest.fixture()
def topics(kafka_bootstrap, unique_name):
    made = LearnTopicSet.named(unique_name("learn-resume"))
    made.create(kafka_bootstrap)
    yield made
    delete_topics(kafka_bootstrap, made.all())


@pytest.fixture()
def app_id(kafka_bootstrap, unique_name):
    """A fresh learner app id; its state and changelog topics are deleted afterwards."""
    name = unique_name("learn-resume-app")
    yield name
    delete_topics(kafka_bootstrap, [f"{name}-state", f"{name}-join-changelog"])


def _value(learner: LearnerProcess, name: str, **labels: str) -> float:
    return learner.value(name, **labels) or 0


def test_after_kill_9_labels_resume_from_the_checkpoint_and_join_the_waiting_scores(kafka_bootstrap, topics,
                                                                                    app_id, tmp_path):
    pipeline = write_pipeline(tmp_path, "p", kafka_bootstrap, topics, learn_config(app_id))
    feeder = FraudFeeder(kafka_bootstrap, topics)
    generator = FraudGenerator(seed=23)
    learners: list[LearnerProcess] = []

    def start(name: str) -> LearnerProcess:
        learners.append(LearnerProcess(pipeline, tmp_path / f"{name}.log", STATE_KEY).start())
        return learners[-1]

    try:
        first = start("first")
        done, done_labels = generator.batch(300)
        feeder.transactions(done)
        feeder.scores(done)
        feeder.labels(done, done_labels)
        waiting, waiting_labels = generator.batch(200)
        feeder.transactions(waiting)
        feeder.scores(waiting)
        feeder.flush()
        first.wait_for("300 learned labels and 500 scores",
                       lambda: _value(first, "streaminfer_learn_model_samples", model="river_logreg") >= 300
                       and _value(first, "streaminfer_learn_records_total", stream="scores") >= 500)
        first.wait_for("200 scores waiting for their labels",
                       lambda: _value(first, "streaminfer_learn_join_pending") == 200)
        saved = _value(first, "streaminfer_learn_checkpoints_total", outcome="saved")
        first.wait_for("two checkpoints after that",
                       lambda: _value(first, "streaminfer_learn_checkpoints_total", outcome="saved") >= saved + 2)
        first.kill()  # kill -9: no shutdown hook, no final checkpoint

        feeder.labels(waiting, waiting_labels)                                   # while the learner is down
        feeder.flush()
        second = start("second")
        second.wait_for("the 200 new labels",
                        lambda: _value(second, "streaminfer_learn_records_total", stream="labels") >= 200)
        second.wait_for("500 learned labels",
                        lambda: _value(second, "streaminfer_learn_model_samples", model="river_logreg") >= 500)
        assert _value(second, "streaminfer_learn_state_restored", component="positions") == 1
        # Nothing read twice, nothing lost: the 300 labels learned before the kill are behind the restored
        # positions; each of the 200 joined the score the changelog kept in the table.
        assert _value(second, "streaminfer_learn_records_total", stream="labels") == 200
        assert _value(second, "streaminfer_learn_joined_total", order="score_first") == 200
        assert _value(second, "streaminfer_learn_joined_total", order="label_first") == 0
        assert _value(second, "streaminfer_learn_model_samples", model="river_logreg") == 500
        second.wait_for("the join emptied and the labels lag exported at 0", lambda: (
            _value(second, "streaminfer_learn_join_pending") == 0
            and [second.value("streaminfer_learn_consumer_lag", topic=topics.labels, partition=str(p))
                 for p in range(6)] == [0] * 6), timeout=30)
        assert second.stop() == 0
    finally:
        for learner in learners:
            if learner.proc.poll() is None:
                learner.kill()
