"""drift-eval without Kafka: stream ground truth, scoring rules, the detector/alert path, CLI parsing."""

from __future__ import annotations

import numpy as np
import pytest

from engine.cli.drift_eval_cmd import parse_detector
from engine.drift_eval.detect import SignalDetectors, alert_positions, make_alert_manager, river_positions
from engine.drift_eval.protocol import EvalConfig
from engine.drift_eval.scoring import score_stream, summarize
from engine.drift_eval.signals import SignalTrace, TrueDrift, make_signal
from engine.drift_eval.streams import StreamSpec, build_stream
from engine.errors import ConfigError
from engine.learn.settings import DetectorSpec

ADWIN = DetectorSpec(kind="ADWIN", params={"delta": 1e-4}, direction="increase")


def test_abrupt_drifts_are_where_the_segments_end_even_far_into_the_stream():
    stream = build_stream(StreamSpec("sea", "abrupt", seed=1, segment=50_000, concepts=2))
    assert sum(1 for _ in stream) == 100_000        # River alone overflows exp() here
    assert stream.centres == [49_999]


def test_gradual_centres_are_tracked_through_nesting():
    stream = build_stream(StreamSpec("sea", "gradual", seed=2, segment=3000, width=500))
    list(stream)
    assert len(stream.centres) == 3
    for expected, centre in zip((2999, 5999, 8999), stream.centres):
        assert abs(centre - expected) < 300


def test_null_streams_have_no_drift_and_the_requested_length():
    stream = build_stream(StreamSpec("sea", "null", seed=1, segment=10, length=777))
    assert sum(1 for _ in stream) == 777 and stream.centres == []


def test_the_signal_shows_the_drift():
    trace = make_signal(StreamSpec("sea", "abrupt", seed=3, segment=4000, concepts=2))
    before, after = trace.errors[3000:3999].mean(), trace.errors[4000:4400].mean()
    assert trace.drifts == (TrueDrift(3999, 3999, 3999),)
    assert after > before + 0.05


def _trace(drifts, n=10_000, kind="abrupt"):
    return SignalTrace(StreamSpec("sea", kind, 1, 2500), np.zeros(n, np.int8), tuple(drifts))


def test_scoring_first_alert_in_window_detects_the_rest_are_false_alarms():
    trace = _trace([TrueDrift(2000, 2000, 2000), TrueDrift(5000, 5000, 5000), TrueDrift(8000, 8000, 8000)])
    score = score_stream(trace, "adwin", alerts=[100, 2300, 2400, 5000, 9500], max_delay=1000)
    assert score.delays == [300, 0, None]            # 9500 is beyond 8000 + max_delay
    assert (score.detected, score.missed, score.false_alarms) == (2, 1, 3)


def test_a_late_alert_for_one_drift_does_not_count_for_the_next():
    trace = _trace([TrueDrift(2000, 2000, 2000), TrueDrift(2500, 2500, 2500)])
    score = score_stream(trace, "adwin", alerts=[2600], max_delay=5000)
    assert score.delays == [None, 100]


def test_summary_figures():
    trace = _trace([TrueDrift(2000, 2000, 2000)], n=100_000)
    null = SignalTrace(StreamSpec("sea", "null", 1, 2500), np.zeros(100_000, np.int8), ())
    summary = summarize([score_stream(trace, "d", [2100], 1000), score_stream(null, "d", [50_000], 1000)])
    assert summary["detection_rate"] == 1.0 and summary["mean_delay"] == 100
    assert summary["false_alarms"] == 1 and summary["false_alarms_per_100k"] == 0.5


def test_the_alert_path_publishes_once_per_cooldown_in_events():
    manager = make_alert_manager(cooldown_events=2000, publisher=None)
    pipeline = SignalDetectors([ADWIN], manager)
    rng = np.random.default_rng(0)
    signal = np.concatenate([rng.random(5000) < 0.05, rng.random(5000) < 0.4]).astype(int)
    pipeline.update_many("s", signal.tolist())
    positions = alert_positions([a.to_record() for a in manager.sent])
    assert list(positions) == [("s", "adwin(delta=0.0001)")]
    first = positions[("s", "adwin(delta=0.0001)")][0]
    assert 5000 <= first < 5400
    assert all(b - a >= 2000 for a, b in zip(positions[("s", "adwin(delta=0.0001)")],
                                             positions[("s", "adwin(delta=0.0001)")][1:]))


def test_direct_runs_are_deterministic():
    trace = make_signal(StreamSpec("sea", "abrupt", seed=4, segment=3000, concepts=3))
    assert river_positions([trace], [ADWIN], 2000) == river_positions([trace], [ADWIN], 2000)


def test_protocol_sizes():
    quick, full = EvalConfig.quick([ADWIN]), EvalConfig.full([ADWIN])
    assert len(full.specs()) == 2 * 3 * 30 and all(s.n_events >= 100_000 for s in full.specs())
    assert len(quick.specs()) == 2 * 3 * 3


def test_detector_option_parsing():
    spec = parse_detector("ADWIN,delta=1e-4@increase")
    assert (spec.kind, spec.params, spec.direction) == ("ADWIN", {"delta": 0.0001}, "increase")
    assert parse_detector("HDDM_A").direction == "increase"
    with pytest.raises(ConfigError):
        parse_detector("NOPE")
    with pytest.raises(ConfigError):
        parse_detector("ADWIN,delta")


def test_false_alarms_are_given_a_cause_without_changing_the_count():
    # Gradual drift centred at 10,000 (start 9,500), another at 40,000 that is missed.
    trace = SignalTrace(StreamSpec("sea", "gradual", 1, 10_000), np.zeros(100_000, np.int8),
                        (TrueDrift(9500, 10_000, 10_500), TrueDrift(39_500, 40_000, 40_500)))
    alerts = [9100,            # in the leading tail, before the window opens: early
              9800,            # the detection
              16_000,          # after the detected drift, past its window: aftershock
              45_000,          # the missed drift, found 5,500 after its start: late
              70_000]          # nowhere near a drift
    score = score_stream(trace, "adwin", alerts, max_delay=5000)
    assert score.delays == [300, None] and score.false_alarms == 4
    assert score.false_alarm_causes == {"early": 1, "aftershock": 1, "late": 1, "unexplained": 1}
    assert summarize([score])["false_alarm_causes"] == {"early": 1, "late": 1, "aftershock": 1, "unexplained": 1}
