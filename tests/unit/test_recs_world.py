"""The synthetic recs world: deterministic by seed, long-tailed, arriving items, drift that means what it says."""

from __future__ import annotations

import numpy as np
import pytest

from models.recs.generator import RecsStream
from models.recs.world import RecsWorld, examination_probability

SIZES = {"n_users": 500, "n_items": 1000}


@pytest.fixture(scope="module")
def stream_and_log():
    stream = RecsStream(3, **SIZES)
    return stream, stream.training_log(3000)


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = RecsWorld(5, **SIZES), RecsWorld(5, **SIZES), RecsWorld(6, **SIZES)
    for name in ("taste", "shifted_taste", "activity", "utc_offset", "device"):
        np.testing.assert_array_equal(getattr(a.users, name), getattr(b.users, name))
    for name in ("taste", "log_popularity", "created_ms", "hour_phase", "device_affinity"):
        np.testing.assert_array_equal(getattr(a.items, name), getattr(b.items, name))
    assert not np.allclose(a.users.taste, c.users.taste)


def test_popularity_has_a_long_tail() -> None:
    world = RecsWorld(5, **SIZES)
    share = np.sort(np.exp(world.log_popularity(0.0)[:world.n_regular_items]))[::-1]
    share /= share.sum()
    assert share[:10].sum() > 0.3, "the top 1% of items take a large share"
    assert share[:200].sum() > 0.7


def test_new_items_arrive_during_the_stream_and_never_before_they_exist(stream_and_log) -> None:
    stream, log = stream_and_log
    world = stream.world
    index = world.item_index(log.item_ids)
    known = index >= 0
    times = np.repeat([r["request_time"] for r in log.requests], np.diff(log.offsets))[known]
    created = world.items.created_ms[index[known]]
    assert (created <= times).all()
    assert (created > world.origin_ms).any(), "items created after the stream began are shown"
    assert log.cold_item.any() and np.char.startswith(log.item_ids[log.cold_item], "i-new-").all()


def test_clicks_are_position_biased_relevance_is_not(stream_and_log) -> None:
    _, log = stream_and_log
    top, deep = log.position <= 3, log.position >= 30
    assert log.clicked[top].mean() > 3 * log.clicked[deep].mean()
    assert abs(log.relevant[top].mean() - log.relevant[deep].mean()) < 0.02  # shuffled logging order
    assert (log.clicked <= log.relevant).all()
    assert np.all(np.diff(examination_probability(np.arange(1, 50))) < 0)


def test_time_of_day_and_device_change_relevance() -> None:
    world = RecsWorld(5, **SIZES)
    item = int(np.argmax(world.items.hour_amplitude[:world.n_regular_items]))
    view = world.view_items(np.full(24, item), 0.0)
    taste = np.repeat(world.user_taste(np.array([0]), 0.0), 24, axis=0)
    by_hour = world.relevance_logit(taste, view, np.zeros(24, np.int64), np.zeros(24, np.int64), np.arange(24))
    assert np.ptp(by_hour) > 1.0
    by_device = world.relevance_logit(taste[:4], world.view_items(np.full(4, item), 0.0), np.arange(4),
                                      np.zeros(4, np.int64), np.zeros(4))
    assert np.ptp(by_device) > 0.05


def test_drift_moves_tastes_reshuffles_popularity_and_opens_the_cohort() -> None:
    world = RecsWorld(5, **SIZES)
    users = np.arange(len(world.users))
    assert np.allclose(world.user_taste(users, 0.0), world.users.taste)
    moved = np.linalg.norm(world.user_taste(users, 1.0) - world.users.taste, axis=1)
    assert moved.mean() > 1.0
    regular = world.n_regular_items
    still = np.corrcoef(world.log_popularity(0.0)[:regular], world.log_popularity(1.0)[:regular])[0, 1]
    assert still < 0.7
    cohort = world.log_popularity(1.0)[regular:]
    assert np.median(cohort) > np.quantile(world.log_popularity(1.0)[:regular], 0.9), "the cohort is a hit"

    calm, drifted = RecsStream(3, **SIZES), RecsStream(3, drift=1.0, **SIZES)
    calm_index = calm.world.item_index(calm.training_log(500).item_ids)
    drifted_index = drifted.world.item_index(drifted.training_log(500).item_ids)
    assert (calm_index >= regular).sum() == 0
    assert (drifted_index >= regular).mean() > 0.05


def test_cold_ids_get_stable_properties() -> None:
    a, b = RecsWorld(5, **SIZES), RecsWorld(5, **SIZES)
    ids = ["u-new-1", "u-new-2", "u3"]
    ua, ub = a.resolve_users(ids, 0.0), b.resolve_users(ids, 0.0)
    np.testing.assert_array_equal(ua.taste, ub.taste)
    np.testing.assert_array_equal(ua.taste[2], a.users.taste[3])
    assert not np.allclose(ua.taste[0], ua.taste[1])
    items = ["i-new-x", "i7", "i007", "i99999999"]
    index = a.item_index(items)
    assert index.tolist() == [-1, 7, -1, -1]
    np.testing.assert_array_equal(a.view_items(index, 0.0, items).taste, b.view_items(index, 0.0, items).taste)
