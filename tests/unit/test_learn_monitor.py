"""DriftMonitor: detection, direction, evidence; the feature bank's configuration checks."""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.learn.monitor import DriftMonitor, FeatureDriftBank
from engine.learn.settings import DetectorSpec

ADWIN = {"kind": "ADWIN", "params": {"delta": 1e-5}}


def _run(monitor, values):
    return [f for i, v in enumerate(values) if (f := monitor.update(v, 1_000 + i, i)) is not None]


def _step(before, after, n=3000, seed=1):
    rng = random.Random(seed)
    return [rng.gauss(before, 1.0) for _ in range(n)] + [rng.gauss(after, 1.0) for _ in range(n)]


def test_a_step_up_is_found_with_before_after_and_window_evidence():
    findings = _run(DriftMonitor("amount", DetectorSpec(**ADWIN)), _step(0.0, 2.0))
    assert findings, "ADWIN must catch a 2-sigma step"
    first = findings[0]
    assert 3000 <= first.ref < 3300
    # ADWIN's post-change window starts at its cut, which may hold a few pre-change values.
    assert first.before["mean"] == pytest.approx(0.0, abs=0.2) and first.after["mean"] > 0.5
    assert first.statistic > 0.5 and first.window["events"] > 3000
    assert first.window["from_time"] == 1_000 and first.event_time == 1_000 + first.ref
    assert "amount: mean" in first.summary


def test_increase_only_ignores_a_step_down_but_counts_it():
    monitor = DriftMonitor("loss", DetectorSpec(**ADWIN, direction="increase"))
    assert _run(monitor, _step(2.0, 0.0)) == []
    assert monitor.n_suppressed >= 1 and monitor.n_updates == 6000


def test_decrease_only_reports_the_step_down():
    findings = _run(DriftMonitor("x", DetectorSpec(**ADWIN, direction="decrease")), _step(2.0, 0.0))
    assert findings and all(f.statistic < 0 for f in findings)


def test_error_rate_detectors_are_trusted_in_their_only_direction():
    rng = random.Random(2)
    errors = [int(rng.random() < 0.02) for _ in range(5000)] + [int(rng.random() < 0.3) for _ in range(2000)]
    findings = _run(DriftMonitor("error_rate", DetectorSpec(kind="HDDM_A", direction="increase")), errors)
    assert findings and 5000 <= findings[0].ref < 5300


def test_a_detector_that_cannot_report_the_wanted_direction_is_a_config_error():
    with pytest.raises(ConfigError, match="never alert"):
        DriftMonitor("error_rate", DetectorSpec(kind="DDM", direction="decrease"))


def test_feature_bank_watches_all_but_ignored_columns():
    bank = FeatureDriftBank(["a", "hour_sin", "b"], DetectorSpec(**ADWIN), ignore=["hour_sin"])
    assert [name for _, name in bank.columns] == ["a", "b"]
    rng = np.random.default_rng(0)
    matrix = np.concatenate([rng.normal(0, 1, (3000, 3)), rng.normal([0, 5, 3], 1, (3000, 3))]).astype(np.float32)
    findings = bank.update(matrix, list(range(6000)), list(range(6000)))
    assert {f.signal for f in findings} == {"b"}
    assert bank.rows_seen == 6000


def test_feature_bank_rejects_unknown_ignores_and_binary_detectors():
    with pytest.raises(ConfigError, match="not features"):
        FeatureDriftBank(["a"], DetectorSpec(**ADWIN), ignore=["typo"])
    with pytest.raises(ConfigError, match="0/1"):
        FeatureDriftBank(["a"], DetectorSpec(kind="DDM"))
