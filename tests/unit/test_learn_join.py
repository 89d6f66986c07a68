"""The score ⋈ label join: both arrival orders, features riding along, expiry and its counts."""

from __future__ import annotations

import orjson

from engine.learn.join import DictJoinStore, ScoreLabelJoin

TTL = 10_000


def _join(max_pending: int = 1000) -> ScoreLabelJoin:
    return ScoreLabelJoin(DictJoinStore(), ttl_ms=TTL, max_pending=max_pending)


def _score(join, event_id, now, partition=2, score=0.9):
    return join.add_score(partition, b"card-1", event_id, score, "fraud", "3", 1_000, now)


def _label(join, event_id, now, partition=2, label=1):
    return join.add_label(partition, b"card-1", event_id, label, 5_000, 1_000, now)


def test_label_after_score_joins():
    join = _join()
    assert _score(join, "e1", now=0) is None
    example = _label(join, "e1", now=50)
    assert example is not None and example.order == "score_first"
    assert (example.score, example.label, example.model_version, example.key) == (0.9, 1, "3", b"card-1")
    assert join.pending == 0
    assert join.counters.joined == {"score_first": 1, "label_first": 0}


def test_label_before_score_joins():
    join = _join()
    assert _label(join, "e1", now=0, label=0) is None
    example = _score(join, "e1", now=70, score=0.1)
    assert example is not None and example.order == "label_first" and example.label == 0
    assert join.pending == 0
    assert join.counters.joined == {"score_first": 0, "label_first": 1}


def test_features_ride_along_to_the_joined_example():
    join = _join()
    join.add_features(2, b"card-1", "e1", [1.0, 2.5], 1_000, now_ms=0)
    assert _score(join, "e1", now=1) is None
    example = _label(join, "e1", now=2)
    assert example.features == [1.0, 2.5] and example.order == "score_first"


def test_completed_entries_are_deleted_with_their_partition():
    deleted = []

    class Recording(DictJoinStore):
        def delete(self, partition, key):
            deleted.append((partition, key))
            super().delete(partition, key)

    join = ScoreLabelJoin(Recording(), TTL, 100)
    _score(join, "e1", now=0, partition=4)
    _label(join, "e1", now=1, partition=4)
    assert deleted == [(4, b"e1")]


def test_unmatched_halves_expire_after_the_ttl_and_are_counted_by_kind():
    join = _join()
    _score(join, "s-only", now=0)
    _label(join, "l-only", now=0)
    join.add_features(1, b"card-2", "x-only", [0.0], 1_000, now_ms=0)
    _score(join, "joined", now=0)
    _label(join, "joined", now=5)
    assert join.expire(now_ms=TTL - 1).total == 0          # not yet
    counts = join.expire(now_ms=TTL)
    assert (counts.score_only, counts.label_only, counts.features_only, counts.over_capacity) == (1, 1, 1, 0)
    assert join.pending == 0
    assert join.counters.expired.total == 3


def test_a_late_label_after_expiry_waits_again_and_expires_as_label_only():
    join = _join()
    _score(join, "e1", now=0)
    join.expire(now_ms=TTL)
    assert _label(join, "e1", now=TTL + 1) is None         # its score is gone
    assert join.expire(now_ms=2 * TTL + 1).label_only == 1


def test_ttl_counts_from_the_first_half_not_the_last_update():
    join = _join()
    join.add_features(0, b"k", "e1", [1.0], 1_000, now_ms=0)
    _score(join, "e1", now=TTL - 1)                        # same entry, updated late
    assert join.expire(now_ms=TTL).score_only == 1


def test_oldest_entries_are_dropped_beyond_max_pending():
    join = _join(max_pending=100)
    for i in range(150):
        _score(join, f"e{i}", now=i)
    counts = join.expire(now_ms=200)
    assert counts.over_capacity == 50 and join.pending == 100
    assert join.store.get(b"e0") is None and join.store.get(b"e149") is not None


def test_expiry_index_is_rebuilt_from_a_recovered_store():
    recovered = DictJoinStore({b"old": orjson.dumps({"p": 3, "at": 0, "k": "c", "s": 0.5, "m": "f", "v": "1",
                                                       "t": 1})})
    join = ScoreLabelJoin(recovered, TTL, 100)               # as after a changelog recovery
    assert join.expire(now_ms=TTL).score_only == 1
    assert join.pending == 0


def test_a_recovered_entry_still_joins():
    join = _join()
    _score(join, "e1", now=0)
    restarted = ScoreLabelJoin(join.store, TTL, 100)        # same (recovered) store, fresh process
    assert _label(restarted, "e1", now=5).order == "score_first"


def test_a_pair_joined_before_its_features_is_monitored_now_and_learned_when_they_come():
    join = _join()
    _score(join, "e1", now=0)
    example = join.add_label(2, b"card-1", "e1", 1, 5_000, 1_000, now_ms=1, expect_features=True)
    assert example is not None and example.features is None and not example.learn_only
    assert join.pending == 1                                 # waits for the features
    assert join.add_label(2, b"card-1", "e1", 1, 5_000, 1_000, now_ms=2, expect_features=True) is None  # redelivery
    late = join.add_features(2, b"card-1", "e1", [0.5], 1_000, now_ms=3)
    assert late.learn_only and late.features == [0.5] and late.label == 1 and late.order == "score_first"
    assert join.pending == 0 and join.counters.joined["score_first"] == 1


def test_features_that_never_come_expire_as_missing():
    join = _join()
    _label(join, "e1", now=0)
    join.add_score(2, b"card-1", "e1", 0.2, "fraud", "3", 1_000, now_ms=1, expect_features=True)
    assert join.expire(now_ms=TTL).features_missing == 1
