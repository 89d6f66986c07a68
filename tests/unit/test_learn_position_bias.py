"""Position bias: EM recovers the examination curve (random and confounded rankings); IPS re-weighting."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from engine.learn.ranking.position_bias import (
    PositionBiasEstimator,
    ips_clicks_at_k,
    ips_dcg_at_k,
    overlap_at_k,
    rank_correlation,
)
from models.recs.generator import RecsStream
from models.recs.world import examination_probability


def test_all_ones_before_data_and_without_clicks():
    estimator = PositionBiasEstimator(max_position=5, window_impressions=1000)
    assert np.array_equal(estimator.estimate(), np.ones(5))
    estimator.update(["a", "b"], [1, 2], [False, False])
    assert np.array_equal(estimator.estimate(), np.ones(5))


def test_recovers_the_recs_world_examination_curve():
    # The logged positions are random shuffles: position says nothing about relevance. 16k requests give
    # ~250 clicks at position 10, enough for the 15 % tolerance.
    log = RecsStream(seed=7).training_log(16_000)
    estimator = PositionBiasEstimator(max_position=20, window_impressions=log.n_rows)
    estimator.update(log.item_ids.tolist(), log.position, log.clicked)
    positions = np.arange(1, 11)
    truth = examination_probability(positions) / examination_probability(1)
    assert estimator.estimate()[:10] == pytest.approx(truth, rel=0.15)


def _confounded(seed=3, n_items=300, n_requests=20_000, length=10):
    """Better items shown higher for 70 % of users and lower for the rest; clicks from a known theta."""
    rng = np.random.default_rng(seed)
    gamma = rng.uniform(0.05, 0.6, n_items)
    theta = 1 / np.arange(1, length + 1) ** 0.7
    items = np.argsort(rng.random((n_requests, n_items)), axis=1)[:, :length]
    order = np.argsort(-gamma[items], axis=1)
    reverse = rng.random(n_requests) < 0.3
    order[reverse] = order[reverse, ::-1]
    items = np.take_along_axis(items, order, axis=1)
    positions = np.tile(np.arange(1, length + 1), (n_requests, 1))
    clicked = rng.random(items.shape) < theta[positions - 1] * gamma[items]
    ids = np.array([f"i{i}" for i in range(n_items)])[items]
    return theta, ids.ravel().tolist(), positions.ravel(), clicked.ravel()


def test_recovers_theta_when_position_and_relevance_are_confounded():
    theta, ids, positions, clicked = _confounded()
    naive = np.bincount(positions - 1, weights=clicked) / np.bincount(positions - 1)
    assert not np.allclose(naive / naive[0], theta, rtol=0.15)  # the plain CTR curve is misleading here
    estimator = PositionBiasEstimator(max_position=10, window_impressions=len(ids))
    for start in range(0, len(ids), 10):  # one request at a time, as the learner feeds it
        estimator.update(ids[start:start + 10], positions[start:start + 10], clicked[start:start + 10])
    assert estimator.estimate() == pytest.approx(theta, rel=0.15)


def test_window_is_bounded_and_item_codes_are_forgotten():
    theta, ids, positions, clicked = _confounded(n_requests=3000)
    estimator = PositionBiasEstimator(max_position=10, window_impressions=2000)
    # Every request gets fresh item ids, so the id map must be pruned to stay bounded.
    for start in range(0, len(ids), 10):
        fresh = [f"{item}-{start}" for item in ids[start:start + 10]]
        estimator.update(fresh, positions[start:start + 10], clicked[start:start + 10])
        assert len(estimator._codes) <= 2 * 2000 + estimator.chunk_size
    assert 2000 - estimator.chunk_size < estimator.n_impressions <= 2000
    # The estimate is the one made from the impressions still in the window, after the renumbering.
    n = estimator.n_impressions
    fresh_ids = [f"{item}-{start - start % 10}" for start, item in enumerate(ids)][-n:]
    alone = PositionBiasEstimator(max_position=10, window_impressions=2000)
    alone.update(fresh_ids, positions[-n:], clicked[-n:])
    assert estimator.estimate() == pytest.approx(alone.estimate(), rel=1e-9)
    assert pickle.loads(pickle.dumps(estimator)).estimate() == pytest.approx(estimator.estimate(), rel=1e-12)


def test_positions_past_the_last_bucket_share_it():
    estimator = PositionBiasEstimator(max_position=3, window_impressions=100)
    estimator.update(["a", "a", "b", "b"], [1, 7, 1, 9], [True, True, True, False])
    assert estimator.estimate().shape == (3,)
    assert estimator.estimate()[1] == pytest.approx(estimator.estimate()[0])  # unseen position 2 filled from 1


THETA = np.array([1.0, 0.5, 0.25, 0.05])
SHOWN = {"a": 1, "b": 2, "c": 3, "d": 4}


def test_ips_of_the_champions_own_ranking_is_its_real_clicks():
    clicked = {"b", "d"}
    assert ips_clicks_at_k(SHOWN, clicked, ["a", "b", "c", "d"], THETA, k=4) == pytest.approx(2.0)
    assert ips_clicks_at_k(SHOWN, clicked, ["a", "b", "c", "d"], THETA, k=3) == pytest.approx(1.0)


def test_ips_reweights_a_swap():
    # b was clicked at 2; ranked first it would have been examined twice as often.
    assert ips_clicks_at_k(SHOWN, {"b"}, ["b", "a", "c"], THETA, k=3) == pytest.approx(2.0)
    # a clicked at 1 and moved to 2: half as likely to be seen.
    assert ips_clicks_at_k(SHOWN, {"a"}, ["b", "a", "c"], THETA, k=3) == pytest.approx(0.5)
    assert ips_dcg_at_k(SHOWN, {"b"}, ["b", "a", "c"], THETA, k=3) == pytest.approx(2.0 / math.log2(2))
    assert ips_dcg_at_k(SHOWN, {"a", "b"}, ["a", "b"], THETA, k=2) == pytest.approx(1.0 + 2.0 / math.log2(3))


def test_ips_unshown_items_count_nothing_and_weights_are_clipped():
    assert ips_clicks_at_k(SHOWN, {"b", "z"}, ["z", "a", "c"], THETA, k=3) == 0.0
    # d clicked at 4 (theta 0.05) moved to 1: weight 20, clipped to 10 (5 with max_weight=5).
    assert ips_clicks_at_k(SHOWN, {"d"}, ["d"], THETA, k=1) == pytest.approx(10.0)
    assert ips_clicks_at_k(SHOWN, {"d"}, ["d"], THETA, k=1, max_weight=5.0) == pytest.approx(5.0)
    assert ips_dcg_at_k(SHOWN, {"d"}, ["a", "d"], THETA, k=2) == pytest.approx(10.0 / math.log2(3))
    # A zero propensity gives the largest weight instead of dividing by zero.
    assert ips_clicks_at_k({"a": 2}, {"a"}, ["a"], np.array([1.0, 0.0]), k=1) == pytest.approx(10.0)


def test_overlap_and_rank_correlation():
    assert overlap_at_k(["a", "b", "c"], ["b", "a", "d"], 2) == pytest.approx(1.0)
    assert overlap_at_k(["a", "b", "c"], ["b", "d", "a"], 3) == pytest.approx(2 / 3)
    assert overlap_at_k(["a", "b", "c"], ["c"], 3) == pytest.approx(0.0)  # k capped at 1: a vs c
    assert overlap_at_k([], ["a"], 3) == 0.0
    assert rank_correlation([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    assert rank_correlation([1], [2]) is None
    assert rank_correlation([1, 1, 1], [1, 2, 3]) is None
