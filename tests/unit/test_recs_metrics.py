"""Ranking metrics over values + offsets, on hand-computed cases, and the popularity baseline."""

from __future__ import annotations

import numpy as np
import pytest

from models.recs.metrics import hit_rate_at_k, ndcg_at_k, ranking_report
from models.recs.popularity import PopularityRanker


def test_ndcg_and_hit_rate_on_hand_computed_cases() -> None:
    # Request 0: relevant item ranked 2nd of 3. Request 1: relevant ranked 1st. Request 2: nothing relevant.
    scores = np.array([0.9, 0.5, 0.1, 0.2, 0.8, 0.3, 0.7])
    labels = np.array([0, 1, 0, 1, 0, 0, 0])
    offsets = np.array([0, 3, 5, 7])
    ndcg = ndcg_at_k(scores, labels, offsets, k=10)
    assert ndcg[0] == pytest.approx(1 / np.log2(3))
    assert ndcg[1] == pytest.approx(1 / np.log2(3))  # 0.2 < 0.8: the relevant one is second
    assert np.isnan(ndcg[2])
    assert hit_rate_at_k(scores, labels, offsets, k=1).tolist()[:2] == [0.0, 0.0]
    assert hit_rate_at_k(scores, labels, offsets, k=2).tolist()[:2] == [1.0, 1.0]
    report = ranking_report(scores, labels, offsets, k=2)
    assert report == {"ndcg_at_2": round(1 / np.log2(3), 4), "hr_at_2": 1.0, "n_requests": 3, "n_scored": 2}


def test_two_relevant_and_a_short_list() -> None:
    scores, labels, offsets = np.array([3.0, 2.0, 1.0]), np.array([1, 0, 1]), np.array([0, 3])
    dcg, ideal = 1 + 1 / np.log2(4), 1 + 1 / np.log2(3)
    assert ndcg_at_k(scores, labels, offsets, k=10)[0] == pytest.approx(dcg / ideal)
    assert ndcg_at_k(-scores, labels, offsets, k=1)[0] == pytest.approx(1.0)


def test_ties_keep_candidate_order() -> None:
    labels, offsets = np.array([0, 1]), np.array([0, 2])
    assert hit_rate_at_k(np.zeros(2), labels, offsets, k=1)[0] == 0.0
    assert hit_rate_at_k(np.zeros(2), labels[::-1], offsets, k=1)[0] == 1.0


def test_metrics_reject_mismatched_input() -> None:
    with pytest.raises(ValueError):
        ndcg_at_k(np.zeros(3), np.zeros(2), np.array([0, 3]))
    with pytest.raises(ValueError):
        ndcg_at_k(np.array([np.nan]), np.zeros(1), np.array([0, 1]))


def test_popularity_counts_positives_and_scores_unseen_items_zero() -> None:
    ranker = PopularityRanker().fit(np.array(["a", "b", "a", "c", "a"]), np.array([1, 1, 1, 0, 0]))
    assert ranker.score(np.array(["a", "b", "c", "zzz", "東京"])).tolist() == [2.0, 1.0, 0.0, 0.0, 0.0]
    assert PopularityRanker().score(np.array(["a"])).tolist() == [0.0]
