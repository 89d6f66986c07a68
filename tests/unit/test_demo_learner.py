"""The demo's learner: its overrides are valid learn settings, its metrics are read back, alerts are listed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from engine.demo.learner import APP_PREFIX, DemoLearner, DemoLearnSettings
from engine.demo.runner import _each_kind_first
from engine.learn.settings import load_learn_settings
from engine.learn.telemetry import LearnMetrics
from engine.observe.learn_scrape import parse_learner


def test_the_demo_overrides_reach_the_learn_settings_through_the_environment(monkeypatch) -> None:
    production = load_learn_settings("fraud")
    overrides = DemoLearnSettings()
    for name, value in overrides.environment("streaminfer-demo-learn-0123abcd").items():
        monkeypatch.setenv(name, value)
    settings = load_learn_settings("fraud")
    assert settings.app_id == "streaminfer-demo-learn-0123abcd" and settings.state_key is not None
    assert settings.state.enabled is False and settings.sampling.join_rate == overrides.join_rate
    shadow = settings.shadow
    assert (shadow.window, shadow.compare_every, shadow.min_labels, shadow.min_positives, shadow.metric,
            shadow.margin) == (overrides.window, overrides.compare_every, overrides.min_labels,
                               overrides.min_positives, overrides.metric, overrides.margin)
    assert settings.metrics.lag_interval_s == 1
    # Only what the demo overrides changes: the shipped challengers and detectors stay as configured.
    assert shadow.models == production.shadow.models
    assert settings.concept_drift == production.concept_drift and settings.topics == production.topics


def test_each_demo_learner_has_its_own_app_id_and_port() -> None:
    first, second = DemoLearner("127.0.0.1:1", None), DemoLearner("127.0.0.1:1", None)
    assert first.app_id.startswith(APP_PREFIX) and first.app_id != second.app_id
    assert first.url == f"http://127.0.0.1:{first.port}/metrics" and not first.alive()


def test_learner_metrics_are_read_from_its_exposition() -> None:
    metrics = LearnMetrics("fraud", CollectorRegistry())
    metrics.records("labels", 700)
    metrics.records("scores", 900)
    metrics.joined("score_first", 650)
    metrics.joined("label_first", 20)
    metrics.set_lag("fraud.scores", 0, 3)
    metrics.set_lag("fraud.scores", 1, 4)
    metrics.set_lag("fraud.labels", 0, 0)
    snap = parse_learner(generate_latest(metrics.registry).decode(), at=5.0)
    assert snap.records == {"labels": 700.0, "scores": 900.0} and snap.joined == 670.0
    assert snap.lag == {"fraud.scores": 7.0, "fraud.labels": 0.0} and snap.total_lag == 7.0
    assert snap.reading("fraud.scores", "fraud.labels") and not snap.reading("fraud.transactions")


def test_the_summary_lists_every_alert_kind_before_repeats() -> None:
    alerts = [{"kind": "feature_drift", "n": 1}, {"kind": "feature_drift", "n": 2},
              {"kind": "challenger_wins", "n": 3}, {"kind": "feature_drift", "n": 4}]
    assert [a["n"] for a in _each_kind_first(alerts)] == [1, 3, 2, 4]
