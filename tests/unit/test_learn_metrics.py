"""Rolling metrics: exact over the window, and equal to River's metrics on the same pairs."""

from __future__ import annotations

import itertools
import random

import pytest
from river import metrics

from engine.learn.metrics import RollingBinaryMetrics


def _pairs(n, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = int(rng.random() < 0.3)
        out.append((label, min(1.0, max(0.0, rng.gauss(0.35 + 0.3 * label, 0.2)))))
    return out


def _pairwise_auc(pairs):
    pos = [p for y, p in pairs if y == 1]
    neg = [p for y, p in pairs if y == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auc_is_exact_with_ties():
    pairs = [(1, 0.9), (0, 0.9), (1, 0.5), (0, 0.1), (0, 0.5), (1, 0.7)]
    rolling = RollingBinaryMetrics(window=10)
    rolling.update_many(*zip(*pairs))
    assert rolling.roc_auc() == pytest.approx(_pairwise_auc(pairs))


def test_only_the_last_window_counts():
    pairs = _pairs(700)
    rolling = RollingBinaryMetrics(window=300)
    for label, proba in pairs:
        rolling.update(label, proba)
    window = pairs[-300:]
    assert rolling.n == 300 and rolling.n_seen == 700
    assert rolling.positives == sum(y for y, _ in window)
    assert rolling.roc_auc() == pytest.approx(_pairwise_auc(window))


def test_log_loss_and_accuracy_match_river_on_the_window():
    pairs = _pairs(500, seed=3)
    rolling = RollingBinaryMetrics(window=200)
    river_loss, river_accuracy = metrics.LogLoss(), metrics.Accuracy()
    for label, proba in pairs:
        rolling.update(label, proba)
    for label, proba in pairs[-200:]:
        river_loss.update(bool(label), {True: proba, False: 1 - proba})
        river_accuracy.update(bool(label), proba >= 0.5)
    assert rolling.log_loss() == pytest.approx(river_loss.get(), rel=1e-9)
    assert rolling.accuracy() == pytest.approx(river_accuracy.get())


def test_undefined_metrics_are_none():
    rolling = RollingBinaryMetrics(window=5)
    assert rolling.snapshot() == {"n": 0, "positives": 0, "roc_auc": None, "log_loss": None, "accuracy": None}
    rolling.update(0, 0.2)
    assert rolling.roc_auc() is None and rolling.log_loss() is not None


def test_certain_wrong_predictions_have_finite_loss():
    rolling = RollingBinaryMetrics(window=2)
    rolling.update(1, 0.0)
    assert 30 < rolling.log_loss() < 40


def test_window_must_be_positive():
    with pytest.raises(ValueError):
        RollingBinaryMetrics(window=0)


# --- time windows -----------------------------------------------------------------------------------------

def test_time_window_matches_the_exact_metrics_on_the_same_pairs():
    from engine.learn.metrics import TimeWindowedBinaryMetrics

    pairs = _pairs(3000, seed=4)
    exact = RollingBinaryMetrics(3000)
    exact.update_many([y for y, _ in pairs], [p for _, p in pairs])
    timed = TimeWindowedBinaryMetrics(span_s=3600)
    timed.update_many([y for y, _ in pairs], [p for _, p in pairs], [1000 * i for i in range(3000)])
    got, want = timed.snapshot(), exact.snapshot()
    assert (got["n"], got["positives"]) == (want["n"], want["positives"])
    assert got["log_loss"] == pytest.approx(want["log_loss"], rel=1e-9)
    assert got["accuracy"] == pytest.approx(want["accuracy"], rel=1e-9)
    assert got["roc_auc"] == pytest.approx(want["roc_auc"], abs=0.005)     # binned on the logit scale


def test_only_labels_of_the_last_span_count_and_older_arrivals_are_late():
    from engine.learn.metrics import TimeWindowedBinaryMetrics

    timed = TimeWindowedBinaryMetrics(span_s=60, buckets=6)
    timed.update_many([1, 0], [0.9, 0.1], [0, 5_000])
    timed.update_many([0] * 3, [0.2] * 3, [100_000, 110_000, 120_000])   # the first two are now 2 min old
    assert timed.snapshot()["n"] == 3 and timed.snapshot()["roc_auc"] is None
    timed.update_many([1, 1], [0.8, 0.7], [30_000, 115_000])             # a label for 30 s arrives too late
    assert timed.late == 1
    snapshot = timed.snapshot()
    assert (snapshot["n"], snapshot["positives"], snapshot["roc_auc"]) == (4, 1, 1.0)


def test_an_empty_time_window_is_undefined_and_survives_pickling():
    import pickle

    from engine.learn.metrics import TimeWindowedBinaryMetrics

    timed = TimeWindowedBinaryMetrics(span_s=300)
    assert timed.snapshot() == {"n": 0, "positives": 0, "roc_auc": None, "log_loss": None, "accuracy": None,
                                "span_s": 300}
    timed.update_many([1, 0, 0], [0.6, 0.4, 0.1], [1, 2, 3])
    assert pickle.loads(pickle.dumps(timed)).snapshot() == timed.snapshot()
    with pytest.raises(ValueError):
        TimeWindowedBinaryMetrics(span_s=0)


def test_a_time_window_pickled_under_the_former_slot_names_still_restores():
    import pickle

    import numpy as np

    from engine.learn.metrics import TimeWindowedBinaryMetrics, _TimeSlot

    class FormerSlot:
        """Pickles as a ``_TimeSlot`` did before its histograms were renamed (slots frauds and legit)."""

        def __reduce_ex__(self, protocol):
            bins = TimeWindowedBinaryMetrics.BINS
            frauds, legit = np.zeros(bins, np.int32), np.zeros(bins, np.int32)
            frauds[200], legit[[10, 100]] = 1, 1
            return _TimeSlot.__new__, (_TimeSlot,), (None, {"frauds": frauds, "legit": legit, "loss": 1.2,
                                                            "correct": 3})

    timed = TimeWindowedBinaryMetrics(span_s=300)
    timed.update_many([0], [0.5], [1])  # sets the window's clock and makes a slot
    timed._slots = {slot: FormerSlot() for slot in timed._slots}
    snapshot = pickle.loads(pickle.dumps(timed)).snapshot()
    assert (snapshot["n"], snapshot["positives"], snapshot["roc_auc"], snapshot["accuracy"]) == (3, 1, 1.0, 1.0)
    assert snapshot["log_loss"] == pytest.approx(0.4)
