"""LearnCore without Kafka: joins in both orders, drift alerts deduplicated, shadow records, replays skipped."""

from __future__ import annotations

import orjson
import pytest

from engine.learn.core import RawRecord
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models.fraud.generator import BLOCK_SIZE, FraudGenerator
from models.fraud.learning.devtools import RecordFeed, label_values, memory_core, score_record

NOW = 1_800_000_000_000
SAMPLE_ALL = {"sampling": {"feature_rate": 1.0, "join_rate": 1.0}, "alerts": {"cooldown_s": 3600}}


@pytest.fixture(scope="module")
def registry():
    return SchemaRegistry(TopicCatalog.load())


def _core(**sections):
    return memory_core(NOW, **{**SAMPLE_ALL, **sections})


def _labels(events, labels):
    return label_values(events, labels, NOW)


def test_labels_before_and_after_scores_both_join_and_feed_the_challengers(registry):
    core, _, shadow = _core(feature_drift={"enabled": False})
    events, labels = FraudGenerator(seed=11).batch(400)
    early, late = events[:200], events[200:]
    feed = RecordFeed()
    label_value = _labels(events, labels)
    core.on_inputs("tx", feed.records("tx", events, orjson.dumps))
    core.on_labels("labels", feed.records("labels", early, label_value))          # label first
    core.on_outputs("scores", feed.records("scores", events, lambda e: score_record(e, 0, "tx")))
    core.on_labels("labels", feed.records("labels", late, label_value))           # score first
    assert core.join.counters.joined == {"label_first": 200, "score_first": 200}
    assert core.join.pending == 0
    assert [m.n_learned for m in core.shadow.models] == [400, 400]
    validate = registry.validator("fraud.shadow")
    records = [orjson.loads(value) for _, value in shadow]
    for record in records:
        validate(record)
    assert len(records) == 400 and {c["name"] for c in records[0]["challengers"]} == {"river_logreg", "river_hat"}
    assert {r["label"] for r in records} <= {0, 1}


def test_features_arriving_after_the_join_still_train_the_challengers():
    core, _, shadow = _core(feature_drift={"enabled": False})
    events, labels = FraudGenerator(seed=13).batch(100)
    feed = RecordFeed()
    core.on_outputs("scores", feed.records("scores", events, lambda e: score_record(e, 0, "tx")))
    core.on_labels("labels", feed.records("labels", events, _labels(events, labels)))
    assert core.champion.n_seen == 100 and [m.n_learned for m in core.shadow.models] == [0, 0]
    core.on_inputs("tx", feed.records("tx", events, orjson.dumps))     # the reader was behind
    assert [m.n_learned for m in core.shadow.models] == [100, 100] and len(shadow) == 100
    assert core.champion.n_seen == 100 and core.join.pending == 0


def test_a_replayed_batch_is_not_learned_twice():
    core, _, _ = _core(feature_drift={"enabled": False})
    events, labels = FraudGenerator(seed=12).batch(100)
    feed = RecordFeed()
    core.on_inputs("tx", feed.records("tx", events, orjson.dumps))
    core.on_outputs("scores", feed.records("scores", events, lambda e: score_record(e, 0, "tx")))
    label_records = feed.records("labels", events, _labels(events, labels))
    core.on_labels("labels", label_records)
    core.on_labels("labels", label_records)                    # redelivered after a crash
    assert [m.n_learned for m in core.shadow.models] == [100, 100]
    assert core.join.pending == 0


def test_injected_drift_raises_one_alert_per_detector_within_the_cooldown():
    core, manager, _ = _core(shadow={"enabled": False}, concept_drift={"enabled": False},
                             prediction_drift={"enabled": False})
    generator = FraudGenerator(seed=5)
    generator.batch(2 * BLOCK_SIZE)                             # warm the velocity windows
    feed = RecordFeed()
    before, _ = generator.batch(BLOCK_SIZE)                     # drift applies from the next block on
    generator.set_drift(1.0)
    after, _ = generator.batch(BLOCK_SIZE)
    for chunk in range(0, 2 * BLOCK_SIZE, 1024):
        core.on_inputs("tx", feed.records("tx", (before + after)[chunk:chunk + 1024], orjson.dumps))
    keys = [alert.dedup_key for alert in manager.sent]
    assert len(keys) == len(set(keys)), "a detector paged twice within its cooldown"
    assert manager.gate.published + manager.gate.suppressed >= len(keys)
    boundary = after[0]["event_time"]
    drifted = {a.subject for a in manager.sent if a.evidence["window"]["to_time"] >= boundary}
    assert drifted & {"log_amount", "card_present", "channel_code", "ip_risk_score", "is_new_device"}
    for alert in manager.sent:
        assert alert.kind == "feature_drift" and alert.evidence["detector"] == "adwin"
        assert alert.evidence["window"]["topic"] == "tx" and alert.event_id


def test_malformed_records_are_counted_not_fatal():
    core, _, _ = _core()
    bad = [RawRecord(0, i, b"card", value) for i, value in enumerate([b"not json", b"{}", None, b'{"score": "x"}'])]
    core.on_outputs("scores", bad)
    core.on_labels("labels", bad)
    core.on_inputs("tx", bad)
    assert core.join.pending == 0


def test_sampling_is_by_key_and_stable():
    core, _, _ = _core(sampling={"feature_rate": 0.3, "join_rate": 0.3})
    keys = [f"card-{i}".encode() for i in range(5000)]
    kept = [k for k in keys if core.join_sampler.keep(k)]
    assert 0.25 < len(kept) / len(keys) < 0.35
    assert kept == [k for k in keys if core.join_sampler.keep(k)]
    features = {k for k in keys if core.feature_sampler.keep(k)}
    assert features != set(kept)                               # independent samples (different salts)


def test_a_challenger_that_beats_a_blind_champion_raises_challenger_wins():
    core, manager, shadow = _core(feature_drift={"enabled": False}, concept_drift={"enabled": False},
                                  prediction_drift={"enabled": False},
                                  shadow={"models": [{"name": "river_logreg", "kind": "logistic_regression"}],
                                          "window": 3000, "compare_every": 500, "min_labels": 1000,
                                          "min_positives": 10, "margin": 0.05})
    generator = FraudGenerator(seed=17)
    generator.batch(16_384)
    events, labels = generator.batch(4000)
    feed = RecordFeed()
    blind = lambda e: orjson.dumps({**orjson.loads(score_record(e, 0, "tx")), "score": 0.5})  # noqa: E731
    core.on_inputs("tx", feed.records("tx", events, orjson.dumps))
    core.on_outputs("scores", feed.records("scores", events, blind))
    core.on_labels("labels", feed.records("labels", events, _labels(events, labels)))
    wins = [a for a in manager.sent if a.kind == "challenger_wins"]
    assert len(wins) == 1 and wins[0].subject == "river_logreg"        # once per cooldown, not per comparison
    assert wins[0].evidence["after"]["river_logreg"] > wins[0].evidence["before"]["champion"] + 0.05
    comparisons = [orjson.loads(v)["comparison"] for _, v in shadow if b'"comparison"' in v]
    assert len(comparisons) == core.shadow.comparisons >= 1
    assert comparisons[-1]["champion"]["roc_auc"] == 0.5


def test_comparisons_and_gauges_carry_time_windows_of_label_arrival():
    core, _, shadow = _core(feature_drift={"enabled": False},
                            shadow={"compare_every": 100, "time_windows_s": [60, 3600]})
    events, labels = FraudGenerator(seed=17).batch(400)
    feed = RecordFeed()
    core.on_inputs("tx", feed.records("tx", events, orjson.dumps))
    core.on_outputs("scores", feed.records("scores", events, lambda e: score_record(e, 0, "tx")))
    two_hours_ago = label_values(events, labels, NOW - 7_200_000)
    core.on_labels("labels", feed.records("labels", events[:200], two_hours_ago))
    core.on_labels("labels", feed.records("labels", events[200:], _labels(events, labels)))
    comparison = [orjson.loads(value)["comparison"] for _, value in shadow
                  if b'"comparison"' in value][-1]
    assert comparison["challengers"]["river_logreg"]["n"] == 400          # the count window holds all
    windows = comparison["time_windows"]
    assert set(windows) == {"60s", "3600s"}
    for window in windows.values():                                       # the time windows: the recent half
        assert window["champion"]["n"] == 200
        assert {name: metrics["n"] for name, metrics in window["challengers"].items()} == {
            "river_logreg": 200, "river_hat": 200}
    core.refresh_gauges()
    value = core.metrics.registry.get_sample_value(
        "streaminfer_learn_model_window_metric",
        {"pipeline": "fraud", "model": "river_logreg", "metric": "n", "window": "3600s"})
    assert value == 200
