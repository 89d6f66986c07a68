"""drift-eval on a plugin's multi-signal traces, without Kafka: watches, the unit clock, scoring, cache, summary."""

from __future__ import annotations

import numpy as np
import pytest

from engine.cli.drift_eval_cmd import parse_watch
from engine.drift_eval.cache import TraceCache
from engine.drift_eval.detect import SignalDetectors, alert_positions, make_alert_manager, river_positions, watch_name
from engine.drift_eval.report import trace_table
from engine.drift_eval.scoring import score_stream
from engine.drift_eval.signals import TrueDrift
from engine.drift_eval.trace_protocol import combined_name, summarize_units, trace_summary
from engine.drift_eval.traces import DriftEvalTraces, StepTrace, Target, TraceSpec
from engine.errors import ConfigError
from engine.learn.settings import DetectorSpec

FALL = ("ctr", DetectorSpec(kind="ADWIN", params={"delta": 1e-3}, direction="decrease"))
RISE = ("loss", DetectorSpec(kind="ADWIN", params={"delta": 1e-3}, direction="increase"))


def _trace(kind: str = "abrupt", n: int = 6000, at: int = 4000, seed: int = 0, per_step: int = 10) -> StepTrace:
    """CTR 0.3 → 0.1 at step ``at`` (none for null), loss flat; ``per_step`` units per step."""
    rng = np.random.default_rng(seed)
    rate = np.where(np.arange(n) < at, 0.3, 0.1) if kind != "null" else np.full(n, 0.3)
    ctr = rng.binomial(per_step, rate) / per_step
    loss = 0.8 + 0.05 * rng.standard_normal(n)
    clock = np.arange(n, dtype=np.int64) * per_step
    drifts = () if kind == "null" else (TrueDrift(at * per_step, at * per_step, at * per_step),)
    spec = TraceSpec("taste" if kind != "null" else "null", kind, seed, f"s-{kind}-{seed}")
    return StepTrace(spec, {"ctr": ctr, "loss": loss}, clock, n * per_step, drifts)


def test_watches_read_their_signal_and_alert_on_the_unit_clock() -> None:
    manager = make_alert_manager(cooldown_events=20_000, publisher=None)
    pipeline = SignalDetectors([FALL, RISE], manager)
    trace = _trace()
    pipeline.update_trace(trace)
    positions = alert_positions([a.to_record() for a in manager.sent])
    assert list(positions) == [(trace.name, "ctr:adwin(delta=0.001)")]       # the flat loss never alerts
    first = positions[(trace.name, "ctr:adwin(delta=0.001)")][0]
    assert 40_000 <= first < 42_000 and first % 10 == 0                       # units, not steps
    record = manager.sent[0].to_record()
    assert record["evidence"]["signal"] == "ctr" and record["evidence"]["window"]["step"] == first // 10


def test_a_fall_is_not_reported_by_a_watch_for_a_rise() -> None:
    manager = make_alert_manager(cooldown_events=20_000, publisher=None)
    SignalDetectors([("ctr", RISE[1])], manager).update_trace(_trace())
    assert manager.sent == []


def test_direct_runs_on_traces_are_deterministic_and_named() -> None:
    traces = [_trace(), _trace("null", seed=1)]
    assert river_positions(traces, [FALL, RISE], 20_000) == river_positions(traces, [FALL, RISE], 20_000)
    assert watch_name(FALL) == "ctr:adwin(delta=0.001)" and watch_name(FALL[1]) == "adwin(delta=0.001)"
    assert combined_name(["ctr:adwin()", "loss:adwin()"]) == "any(ctr,loss)"


def test_scoring_counts_in_units_and_separates_undrifted_false_alarms() -> None:
    trace, null = _trace(), _trace("null", seed=1)
    score = score_stream(trace, "d", [20_000, 41_000, 90_000], max_delay=5000)
    assert score.events == 60_000 and score.delays == [1000] and score.false_alarms == 2
    null_score = score_stream(null, "d", [10_000], max_delay=5000)
    summary = summarize_units([score, null_score], {trace.name: trace.undrifted_units,
                                                   null.name: null.undrifted_units}, "impressions")
    assert summary["impressions"] == 120_000 and summary["undrifted_impressions"] == 40_000 + 60_000
    assert summary["false_alarms"] == 3 and summary["false_alarms_undrifted"] == 2   # 90,000 is after the drift
    assert summary["false_alarms_per_1m_impressions"] == pytest.approx(2 * 1e6 / 100_000)
    assert summary["false_alarms_per_1m_impressions_all"] == pytest.approx(3 * 1e6 / 120_000)


def test_trace_cache_round_trip(tmp_path) -> None:
    cache = TraceCache(tmp_path)
    trace = _trace()
    assert cache.load(trace.name, "k1") is None
    cache.store(trace, "k1")
    back = cache.load(trace.name, "k1")
    assert back is not None and back.spec == trace.spec and back.drifts == trace.drifts
    assert back.n_units == trace.n_units and back.drift_width == trace.drift_width
    np.testing.assert_array_equal(back.clock, trace.clock)
    for name in trace.signals:
        np.testing.assert_array_equal(back.signals[name], trace.signals[name])
    assert cache.load(trace.name, "k2") is None and (cache.hits, cache.misses) == (1, 2)
    cache.path(trace.name, "k1").write_bytes(b"garbage")
    assert cache.load(trace.name, "k1") is None


def test_summary_keeps_the_river_keys_and_adds_units() -> None:
    traces = [_trace(), _trace("gradual", seed=2), _trace("null", seed=1)]
    watches = [FALL, RISE]
    positions = river_positions(traces, watches, 20_000)
    names = [watch_name(w) for w in watches]
    any_name = combined_name(names)
    scores = [score_stream(t, n, positions.get((t.name, n), []), 20_000) for n in names for t in traces]
    scores += [score_stream(t, any_name, sorted(a for n in names for a in positions.get((t.name, n), [])), 20_000)
               for t in traces]
    evaluation = DriftEvalTraces(traces, watches, "impressions", 20_000, 20_000,
                                 (Target("detection_rate", ">=", 0.9), Target("mean_delay", "<=", 5000)))
    summary = trace_summary(evaluation, traces, scores, names, any_name, positions, positions, read=1, published=1,
                            produced=18_000, kafka_s=1.0, total_s=2.0)
    for key in ("detection_rate", "mean_delay", "max_delay", "missed_drifts", "false_alarms_per_100k",
                "false_alarms_per_1m_impressions", "kafka_matches_river", "false_alarm_causes", "headline",
                "targets", "by_detector", "kafka", "seconds", "config", "per_stream", "signal_cache"):
        assert key in summary, key
    assert summary["kafka_matches_river"] is True and summary["detection_rate"] == 1.0
    assert summary["targets"]["detection_rate"]["met"] is True and summary["units"]["delay"] == "impressions"
    assert set(summary["by_detector"]) == {any_name, *names}
    assert set(summary["by_drift_kind"][any_name]) == {"taste"}
    text = trace_table(summary)
    assert "targets (any(ctr,loss))" in text and "taste abrupt" in text


def test_watch_option_parsing() -> None:
    signal, spec = parse_watch("ctr:ADWIN,delta=1e-3@decrease")
    assert signal == "ctr" and (spec.kind, spec.params, spec.direction) == ("ADWIN", {"delta": 0.001}, "decrease")
    with pytest.raises(ConfigError):
        parse_watch("ADWIN,delta=1e-3")
    with pytest.raises(ConfigError):
        parse_watch("ctr:NOPE")
