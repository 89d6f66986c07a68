"""Concept-drift findings page only after the change proves large and lasting (ChangeConfirmer + LearnCore)."""

from __future__ import annotations

import math
import random

import pytest

from engine.learn.confirm import ChangeConfirmer
from engine.learn.monitor import DriftFinding
from models.fraud.generator import FraudGenerator
from models.fraud.learning.devtools import RecordFeed, champion_score, label_values, memory_core, score_record

NOW = 1_800_000_000_000


def _finding(before_mean: float | None, signal: str = "error_rate") -> DriftFinding:
    return DriftFinding(signal=signal, detector="adwin", statistic=0.01, before={"mean": before_mean, "n": 10_000},
                        after={"mean": 0.02, "n": 300}, window={"events": 10_300}, event_time=1, ref="e-1")


def test_a_lasting_rise_is_confirmed_with_its_ratio():
    confirmer = ChangeConfirmer(labels=100, ratio=1.5)
    assert confirmer.start(_finding(0.01))
    verdicts = [confirmer.update(1.0 if i % 25 == 0 else 0.0) for i in range(100)]  # 4 % errors
    assert verdicts[:-1] == [None] * 99
    verdict = verdicts[-1]
    assert verdict.confirmed and verdict.labels == 100 and verdict.ratio == pytest.approx(4.0)
    assert "4.00×" in verdict.summary and confirmer.pending is None and confirmer.confirmed == 1


def test_a_blip_that_falls_back_is_not_confirmed():
    confirmer = ChangeConfirmer(labels=100, ratio=1.5)
    confirmer.start(_finding(0.01))
    verdict = [confirmer.update(1.0 if i == 0 else 0.0) for i in range(100)][-1]   # 1 % again
    assert not verdict.confirmed and verdict.ratio == pytest.approx(1.0) and confirmer.unconfirmed == 1
    assert confirmer.update(1.0) is None  # nothing on probation any more


def test_findings_during_a_probation_join_it_and_a_finding_without_a_before_is_ignored():
    confirmer = ChangeConfirmer(labels=10, ratio=1.5)
    first = _finding(0.01)
    assert confirmer.start(first) and not confirmer.start(_finding(0.05)) and confirmer.pending is first
    assert not ChangeConfirmer(10, 1.5).start(_finding(None))


def test_a_rise_from_zero_is_confirmed_and_a_flat_zero_is_not():
    rise, flat = ChangeConfirmer(labels=5, ratio=1.5), ChangeConfirmer(labels=5, ratio=1.5)
    rise.start(_finding(0.0))
    flat.start(_finding(0.0))
    assert [rise.update(1.0) for _ in range(5)][-1].ratio == math.inf
    assert not [flat.update(0.0) for _ in range(5)][-1].confirmed


@pytest.mark.parametrize("labels, ratio", [(0, 1.5), (10, 1.0), (10, 0.5)])
def test_nonsense_settings_are_refused(labels, ratio):
    with pytest.raises(ValueError):
        ChangeConfirmer(labels, ratio)


def _run_champion(confirm: dict, error_rates: list[tuple[int, float]], seed: int = 3):
    """Joins scores and labels whose labels disagree with the champion at the given rates, in phases."""
    core, manager, _ = memory_core(NOW, sampling={"feature_rate": 1.0, "join_rate": 1.0},
                                   alerts={"cooldown_s": 3600}, shadow={"enabled": False},
                                   feature_drift={"enabled": False}, prediction_drift={"enabled": False},
                                   concept_drift=confirm)
    manager.severity = {"concept_drift": "critical"}
    generator, rng, feed = FraudGenerator(seed=seed), random.Random(seed), RecordFeed()
    for count, error_rate in error_rates:
        events, _ = generator.batch(count)
        labels = [int((champion_score(e) >= 0.5) != (rng.random() < error_rate)) for e in events]
        core.on_outputs("scores", feed.records("scores", events, lambda e: score_record(e, 0, "tx")))
        core.on_labels("labels", feed.records("labels", events, label_values(events, labels, NOW)))
    return core, manager


def test_a_lasting_error_rise_warns_at_once_then_pages_once_confirmed():
    core, manager = _run_champion({"confirm_labels": 1000, "confirm_ratio": 1.6}, [(6000, 0.01), (3000, 0.15)])
    error_alerts = [a for a in manager.sent if a.subject == "fraud:error_rate"]
    detected = [a for a in error_alerts if a.evidence["stage"] == "detected"]
    confirmed = [a for a in error_alerts if a.evidence["stage"] == "confirmed"]
    assert detected and detected[0].severity == "warning"
    assert len(confirmed) == 1, [a.evidence["summary"] for a in error_alerts]
    page = confirmed[0]
    assert page.severity == "critical" and page.evidence["statistic"] >= 1.6 and page.evidence["after"]["n"] == 1000
    assert page.evidence["detected_at"] == detected[0].evidence["window"]["last"]
    assert page.dedup_key != detected[0].dedup_key and manager.sent.index(page) > manager.sent.index(detected[0])
    assert core.detectors.confirmers["error_rate"].confirmed == 1


def test_without_confirmation_a_finding_pages_at_once():
    _, manager = _run_champion({"confirm_labels": 0}, [(6000, 0.01), (3000, 0.15)])
    error_alerts = [a for a in manager.sent if a.subject == "fraud:error_rate"]
    assert error_alerts and all(a.severity == "critical" and "stage" not in a.evidence for a in error_alerts)
