"""Benchmark options and target resolution (which servers ``streaminfer bench`` measures)."""

from __future__ import annotations

import pytest

from engine.bench.settings import ALL_CONTENDERS, BenchOptions, load_target


def test_defaults_follow_the_issue() -> None:
    options = BenchOptions()
    assert options.events >= 1_000_000
    assert options.contenders == ALL_CONTENDERS
    assert options.paced_fraction == 0.5


def test_quick_is_about_100k_and_keeps_explicit_overrides() -> None:
    quick = BenchOptions.quick()
    assert 50_000 <= quick.events <= 150_000
    assert quick.paced_seconds < BenchOptions().paced_seconds
    assert BenchOptions.quick(events=5_000, partitions=None).events == 5_000
    assert BenchOptions.quick(events=None).events == quick.events


@pytest.mark.parametrize("bad", [{"contenders": ("engine_eos", "spark")}, {"events": 0},
                                 {"paced_fraction": 0.0}, {"workers": (0,)}])
def test_invalid_options_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        BenchOptions(**bad)


def test_target_follows_the_stack_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STREAMINFER_KAFKA__BOOTSTRAP_SERVERS", "STREAMINFER_TRITON__URL", "STREAMINFER_TRITON__HTTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMINFER_STACK_KAFKA_PORT", "49092")
    monkeypatch.setenv("STREAMINFER_STACK_TRITON_GRPC_PORT", "48001")
    monkeypatch.setenv("STREAMINFER_STACK_TRITON_HTTP_PORT", "48000")
    target = load_target()
    assert target.bootstrap == "127.0.0.1:49092"
    assert target.triton_url == "127.0.0.1:48001"
    assert target.triton_http_url == "127.0.0.1:48000"
    assert target.model_name == "fraud"
    assert "kafka_heap_mb" in target.stack_facts


def test_pipeline_variables_win_over_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMINFER_STACK_KAFKA_PORT", "49092")
    monkeypatch.setenv("STREAMINFER_KAFKA__BOOTSTRAP_SERVERS", "broker.example:9092")
    monkeypatch.setenv("STREAMINFER_TRITON__URL", "triton.example:8001")
    target = load_target()
    assert target.bootstrap == "broker.example:9092"
    assert target.triton_url == "triton.example:8001"
