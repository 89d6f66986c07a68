"""Pipeline config: shipped file loads; env and CLI override it; bad values are one clear error."""

from pathlib import Path

import pytest

from engine.config.pipeline import DeliveryMode, load_pipeline
from engine.errors import ConfigError


def test_shipped_fraud_pipeline_loads_with_exactly_once_default() -> None:
    settings = load_pipeline("fraud")
    assert settings.kafka.delivery is DeliveryMode.EXACTLY_ONCE
    assert settings.topics.input == "fraud.transactions" and settings.batching.max_in_flight >= 2


def test_precedence_cli_over_env_over_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMINFER_BATCHING__MAX_ROWS", "77")
    assert load_pipeline("fraud").batching.max_rows == 77
    assert load_pipeline("fraud").batching.max_delay_ms == 5.0  # siblings still come from the file
    assert load_pipeline("fraud", **{"batching.max_rows": 99}).batching.max_rows == 99


@pytest.mark.parametrize(("env", "value", "field"), [
    ("STREAMINFER_KAFKA__DELIVERY", "twice", "kafka.delivery"),
    ("STREAMINFER_BATCHING__MAX_ROWS", "0", "batching.max_rows"),
    ("STREAMINFER_TRITON__REQUEST_TIMEOUT_S", "-1", "triton.request_timeout_s"),
    ("STREAMINFER_KAFKA__COMMIT_INTERVAL_MS", "50000", "kafka"),
])
def test_bad_values_name_the_field(monkeypatch: pytest.MonkeyPatch, env: str, value: str, field: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=field):
        load_pipeline("fraud")


def test_unknown_key_unknown_pipeline_and_bad_yaml(tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: fraud\nbatching:\n  max_rowz: 10\n")
    with pytest.raises(ConfigError, match="max_rowz"):
        load_pipeline(str(typo))
    with pytest.raises(ConfigError, match="unknown pipeline 'nope'"):
        load_pipeline("nope")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline(str(broken))
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_pipeline(str(listy))
