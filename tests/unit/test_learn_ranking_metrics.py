"""Ranking metrics: hand-computed per-list figures, count and time windows, pickling, the catalogue mix."""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest

from engine.learn.metrics import TimeWindowedBinaryMetrics, binary_log_losses
from engine.learn.ranking.metrics import (
    CatalogMix,
    RankingMetrics,
    TimedRankingMetrics,
    gini,
    jensen_shannon,
    list_metrics,
)

G2, G3, G4 = 1.0, 1 / math.log2(3), 1 / math.log2(4)  # DCG gains at positions 1, 2, 3


def _pairwise_auc(labels, probas):
    pos = [p for y, p in zip(labels, probas) if y]
    neg = [p for y, p in zip(labels, probas) if not y]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("positions, clicked, k, expected", [
    # k smaller than the list: the click at 4 is outside the cut but counts in the ideal DCG.
    ([1, 2, 3, 4, 5], [0, 1, 0, 1, 0], 3,
     {"ctr": 1 / 3, "ndcg": G3 / (G2 + G3), "hit": 1.0, "rr": 0.5, "clicks": 1.0, "impressions": 3.0}),
    # Non-contiguous positions (a client filtered slots 2, 4-6).
    ([1, 3, 7], [0, 1, 1], 5,
     {"ctr": 0.5, "ndcg": G4 / (G2 + G3), "hit": 1.0, "rr": 1 / 3, "clicks": 1.0, "impressions": 2.0}),
    # No clicks at all.
    ([1, 2, 3], [0, 0, 0], 10,
     {"ctr": 0.0, "ndcg": 0.0, "hit": 0.0, "rr": 0.0, "clicks": 0.0, "impressions": 3.0}),
    # The only click is below k: no hit, but the reciprocal rank is not cut.
    ([1, 2, 3], [0, 0, 1], 2,
     {"ctr": 0.0, "ndcg": 0.0, "hit": 0.0, "rr": 1 / 3, "clicks": 0.0, "impressions": 2.0}),
    # Clicks already at the top: ideal.
    ([1, 2, 3], [1, 1, 0], 10,
     {"ctr": 2 / 3, "ndcg": 1.0, "hit": 1.0, "rr": 1.0, "clicks": 2.0, "impressions": 3.0}),
    # More clicks than k: the ideal DCG is cut at k too.
    ([1, 2, 3], [1, 1, 1], 2,
     {"ctr": 1.0, "ndcg": 1.0, "hit": 1.0, "rr": 1.0, "clicks": 2.0, "impressions": 2.0}),
])
def test_list_metrics_by_hand(positions, clicked, k, expected):
    got = list_metrics(np.array(positions), np.array(clicked, bool), k)
    assert got == pytest.approx(expected)


def _request(rng, n=4):
    positions = np.arange(1, n + 1)
    clicked = rng.random(n) < 0.3
    probas = np.clip(0.2 + 0.5 * clicked + rng.normal(0, 0.2, n), 0.01, 0.99)
    return positions, clicked, probas


def test_rolling_window_keeps_the_last_requests():
    rng = np.random.default_rng(1)
    requests = [_request(rng) for _ in range(9)]
    metrics = RankingMetrics(k=2, window=3)
    for r in requests:
        metrics.update(*r)
    last = requests[-3:]
    rows = [list_metrics(p, c, 2) for p, c, _ in last]
    snap = metrics.snapshot()
    assert snap["requests"] == 3 and snap["impressions"] == 6
    assert snap["clicks"] == sum(int(c[:2].sum()) for _, c, _ in last)
    assert snap["ctr@2"] == pytest.approx(snap["clicks"] / 6)
    assert snap["ndcg@2"] == pytest.approx(np.mean([r["ndcg"] for r in rows]))
    assert snap["hr@2"] == pytest.approx(np.mean([r["hit"] for r in rows]))
    assert snap["mrr"] == pytest.approx(np.mean([r["rr"] for r in rows]))
    # AUC and log loss over the last window * k impressions at positions <= k: exactly these three requests.
    labels = np.concatenate([c[:2] for _, c, _ in last]).astype(int)
    probas = np.concatenate([p[:2] for _, _, p in last])
    if 0 < labels.sum() < labels.size:
        assert snap["roc_auc"] == pytest.approx(_pairwise_auc(labels, probas))
    assert snap["log_loss"] == pytest.approx(binary_log_losses(labels, probas).mean())


def test_empty_window_and_key_names():
    snap = RankingMetrics(k=10, window=5).snapshot()
    assert {"ctr@10", "ndcg@10", "hr@10", "mrr", "roc_auc", "log_loss", "requests", "impressions",
            "clicks"} <= snap.keys()
    assert snap["ctr@10"] is None and snap["requests"] == 0 and snap["roc_auc"] is None


def test_running_sums_stay_exact_over_a_long_run_and_survive_pickling():
    rng = np.random.default_rng(2)
    requests = [_request(rng, n=6) for _ in range(530)]
    metrics = RankingMetrics(k=5, window=50)
    for r in requests[:400]:
        metrics.update(*r)
    restored = pickle.loads(pickle.dumps(metrics))
    assert restored.snapshot() == metrics.snapshot()
    for r in requests[400:]:
        metrics.update(*r)
        restored.update(*r)
    assert restored.snapshot() == metrics.snapshot()
    rows = [list_metrics(p, c, 5) for p, c, _ in requests[-50:]]
    assert metrics.snapshot()["ndcg@5"] == pytest.approx(np.mean([r["ndcg"] for r in rows]), abs=1e-12)


def test_update_returns_the_requests_own_figures():
    metrics = RankingMetrics(k=3, window=10)
    got = metrics.update(np.array([1, 2, 3]), np.array([0, 1, 0], bool), np.array([0.1, 0.8, 0.2]))
    assert got["ctr"] == pytest.approx(1 / 3) and got["rr"] == 0.5


def test_time_window_expires_old_requests_and_counts_late_ones():
    metrics = TimedRankingMetrics(k=2, span_s=10.0, slots=10)  # 1 s slots
    positions = np.array([1, 2, 3])
    metrics.update(positions, np.array([1, 0, 0], bool), np.array([0.9, 0.1, 0.1]), time_ms=0)
    metrics.update(positions, np.array([0, 1, 0], bool), np.array([0.2, 0.8, 0.5]), time_ms=5_000)
    metrics.update(positions, np.array([0, 0, 0], bool), np.array([0.3, 0.2, 0.9]), time_ms=12_000)
    snap = metrics.snapshot()
    # Newest slot 12 keeps slots 3..12: the request at 0 s has left the window.
    assert snap["requests"] == 2 and snap["impressions"] == 4 and snap["clicks"] == 1
    assert snap["ctr@2"] == pytest.approx(0.25)
    assert snap["ndcg@2"] == pytest.approx((G3 / G2 + 0.0) / 2)
    assert snap["mrr"] == pytest.approx(0.25)
    assert snap["roc_auc"] == pytest.approx(1.0)  # the click's 0.8 beats 0.2, 0.3, 0.2
    labels, probas = np.array([0, 1, 0, 0]), np.array([0.2, 0.8, 0.3, 0.2])
    assert snap["log_loss"] == pytest.approx(binary_log_losses(labels, probas).mean())
    metrics.update(positions, np.array([1, 0, 0], bool), np.array([0.9, 0.1, 0.1]), time_ms=1_000)
    assert metrics.snapshot()["late"] == 1 and metrics.snapshot()["requests"] == 2
    # Far later, everything has expired but the newest request.
    metrics.update(positions, np.array([1, 1, 0], bool), np.array([0.9, 0.8, 0.1]), time_ms=60_000)
    snap = metrics.snapshot()
    assert snap["requests"] == 1 and snap["ctr@2"] == 1.0 and snap["roc_auc"] is None


def test_time_window_batches_impressions_like_single_calls_and_pickles():
    rng = np.random.default_rng(4)
    metrics = TimedRankingMetrics(k=3, span_s=60.0)
    direct = TimeWindowedBinaryMetrics(60.0)
    for i in range(2000):  # 6000 impressions: one batch handed over, the rest buffered
        positions, clicked, probas = _request(rng)
        metrics.update(positions, clicked, probas, time_ms=100 * i)
        direct.update_many(clicked[:3].astype(int), probas[:3], [100 * i] * 3)
        if i == 1500:
            restored = pickle.loads(pickle.dumps(metrics))
            assert restored.snapshot() == metrics.snapshot()
    snap, expected = metrics.snapshot(), direct.snapshot()
    assert snap["impressions"] == expected["n"] == 1800  # the last 60 s: 600 requests
    assert snap["roc_auc"] == pytest.approx(expected["roc_auc"])
    assert snap["log_loss"] == pytest.approx(expected["log_loss"])


def test_gini_and_jensen_shannon_by_hand():
    assert gini(np.array([1, 3])) == pytest.approx(0.25)
    assert gini(np.array([2, 2, 2])) == pytest.approx(0.0)
    assert gini(np.array([])) is None
    assert jensen_shannon({"a": 1, "b": 1}, {"b": 1, "c": 1}) == pytest.approx(0.5)


def test_catalog_mix_new_items_and_popularity_before_the_request():
    mix = CatalogMix(window=10, new_item_age_ms=1000, max_items=100)
    mix.observe_candidates(["z"], time_ms=-5000)  # the learner has run for longer than the age: warmed up
    mix.observe_candidates(["a", "b"], time_ms=0)
    mix.observe_shown(["a"], time_ms=0)
    mix.observe_shown(["a"], time_ms=500)
    # a: first seen at 0, 2 impressions; b: offered at 0, never shown; c: never seen (new now).
    got = mix.request_features(["a", "b", "c"], time_ms=999)
    assert got["new_item_share"] == pytest.approx(1.0)
    assert got["mean_log_popularity"] == pytest.approx(math.log1p(2) / 3)
    got = mix.request_features(["a", "b", "c"], time_ms=1000)
    assert got["new_item_share"] == pytest.approx(1 / 3)
    mix.observe_shown(["a", "c"], time_ms=1000)
    assert mix.snapshot()["new_item_share"] == pytest.approx(3 / 4)  # a new twice, then not; c new


def test_catalog_mix_window_figures_by_hand():
    mix = CatalogMix(window=10, new_item_age_ms=1, max_items=100)
    assert mix.snapshot()["coverage"] is None and mix.snapshot()["gini"] is None
    mix.observe_candidates(["a", "b", "c", "d"], time_ms=0)
    for shown in (["a", "b"], ["a"], ["a"]):
        mix.observe_shown(shown, time_ms=5)
    snap = mix.snapshot()
    assert snap["coverage"] == pytest.approx(0.5) and snap["distinct_shown"] == 2
    assert snap["gini"] == pytest.approx(0.25)  # counts a: 3, b: 1
    # Tracked: a (3), b (1), c, d (0, tied ranks 3 and 4). Impressions: a 3 x rank 1, b 1 x rank 2; / 4 items.
    assert snap["mean_popularity_rank"] == pytest.approx((3 * 1 + 1 * 2) / 4 / 4)
    assert snap["requests"] == 3 and snap["impressions"] == 4


def test_catalog_mix_shown_window_slides():
    mix = CatalogMix(window=2, new_item_age_ms=1, max_items=100)
    for shown in (["a", "b"], ["c"], ["c", "d"]):
        mix.observe_shown(shown, time_ms=0)
    snap = mix.snapshot()
    assert snap["requests"] == 2 and snap["impressions"] == 3 and snap["distinct_shown"] == 2


def test_catalog_mix_forgets_the_least_recently_seen_item():
    mix = CatalogMix(window=10, new_item_age_ms=100, max_items=3)
    mix.observe_shown(["a", "b", "c"], time_ms=0)
    mix.observe_candidates(["a"], time_ms=200)  # a is seen again: b is now the least recent
    mix.observe_shown(["d"], time_ms=300)
    assert mix.snapshot()["tracked_items"] == 3
    got = mix.request_features(["a", "b", "c"], time_ms=300)
    assert got["new_item_share"] == pytest.approx(1 / 3)  # b was forgotten: new again, no popularity
    assert got["mean_log_popularity"] == pytest.approx(2 * math.log1p(1) / 3)


def _mix_after(requests):
    mix = CatalogMix(window=2, new_item_age_ms=1, max_items=100)
    for i, shown in enumerate(requests):
        mix.observe_shown(shown, time_ms=i)
    return mix


def test_catalog_mix_divergence_of_identical_and_disjoint_windows():
    assert _mix_after([["a"], ["b"], ["a"]]).snapshot()["item_mix_divergence"] is None  # earlier window not full
    assert _mix_after([["a"], ["b"], ["b"], ["a"]]).snapshot()["item_mix_divergence"] == pytest.approx(0.0)
    moved = _mix_after([["a"], ["b"], ["c"], ["d"]])
    assert moved.snapshot()["item_mix_divergence"] == pytest.approx(1.0)
    assert _mix_after([["a"], ["b"], ["b"], ["c"]]).snapshot()["item_mix_divergence"] == pytest.approx(0.5)
    restored = pickle.loads(pickle.dumps(moved))
    assert restored.snapshot() == moved.snapshot()


def test_catalog_mix_calls_nothing_new_while_warming_up():
    mix = CatalogMix(window=10, new_item_age_ms=1000, max_items=100)
    mix.observe_shown(["a", "b"], time_ms=0)          # the first items a learner meets existed already
    assert mix.request_features(["a", "c"], time_ms=500)["new_item_share"] == 0.0
    mix.observe_shown(["c"], time_ms=500)
    assert mix.snapshot()["new_item_share"] == 0.0
    assert mix.request_features(["d"], time_ms=1500)["new_item_share"] == 1.0  # after the warm-up: new
    mix.observe_shown(["d"], time_ms=1500)
    assert mix.request_features(["c", "d"], time_ms=1600)["new_item_share"] == 0.5
