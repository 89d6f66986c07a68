"""Learn settings: the shipped file, environment overrides, the state key, clear errors."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.learn.settings import LearnSettings, learn_config_path, load_learn_settings


def test_shipped_fraud_settings_load():
    settings = load_learn_settings("fraud")
    assert settings.app_id == "streaminfer-learn-fraud" and settings.state_topic == "streaminfer-learn-fraud-state"
    assert [m.name for m in settings.shadow.models] == ["river_logreg", "river_hat"]
    assert settings.concept_drift.error_detector.kind == "ADWIN"
    assert settings.concept_drift.error_detector.params == {"delta": 3e-4}
    assert settings.state_key is None


def test_environment_overrides_the_file_and_keeps_the_key_secret(monkeypatch):
    monkeypatch.setenv("STREAMINFER_LEARN__STATE_KEY", "a-very-secret-key-123")
    monkeypatch.setenv("STREAMINFER_LEARN__SAMPLING__JOIN_RATE", "0.5")
    settings = load_learn_settings("fraud")
    assert settings.sampling.join_rate == 0.5
    assert settings.state_key.get_secret_value() == "a-very-secret-key-123"
    assert "a-very-secret" not in repr(settings)


def test_keyword_overrides_beat_the_environment(monkeypatch):
    monkeypatch.setenv("STREAMINFER_LEARN__METRICS__PORT", "1234")
    assert load_learn_settings("fraud", **{"metrics.port": 0, "stream.start_from": None}).metrics.port == 0


@pytest.mark.parametrize("sections, message", [
    ({"feature_drift": {"detector": {"kind": "NOPE"}}}, "unknown detector"),
    ({"shadow": {"models": [{"name": "x", "kind": "deep_net"}]}}, "unknown learner"),
    ({"sampling": {"join_rate": 0}}, "join_rate"),
    ({"state_key": "short"}, "at least 16 bytes"),
    ({"shadow": {"time_windows_s": [0.5]}}, "between 1 s and 7 days"),
    ({"shadow": {"time_windows_s": [300, 300]}}, "must differ"),
    ({"shadow": {"time_windows_s": [60, 300, 900, 3600, 86400]}}, "at most 4"),
])
def test_bad_values_are_one_clear_error(tmp_path, sections, message):
    import yaml

    path = tmp_path / "p.learn.yaml"
    path.write_text(yaml.safe_dump(sections))
    with pytest.raises(ConfigError, match=message):
        load_learn_settings("fraud", path)


def test_a_pipeline_file_finds_its_learn_sibling(tmp_path):
    pipeline = tmp_path / "mine.yaml"
    pipeline.write_text("name: fraud\n")
    assert learn_config_path(str(pipeline)) is None
    (tmp_path / "mine.learn.yaml").write_text("app_id: mine-learn\n")
    assert load_learn_settings(str(pipeline)).app_id == "mine-learn"


def test_defaults_are_valid_without_any_file():
    assert LearnSettings().shadow.metric == "roc_auc"
