"""RankingCore without Kafka: both join orders, expiry, replays, malformed records, drift alerts, state."""

from __future__ import annotations

import orjson
import pytest

from engine.learn.checkpoint import FRESH, REFUSED, RESTORED, Checkpointer
from models.recs.learning.tools import NOW, RecsFeed, RecsTraffic, recs_memory_core

ALL = {"sampling": {"feature_rate": 1.0, "join_rate": 1.0}, "alerts": {"cooldown_s": 3600}}
EVERY_LIST = {"sample_rate": 1.0}  # challengers on every joined list
NO_SHADOW = {**ALL, "shadow": {"enabled": False}}


def _feed(core, feed, requests=(), ranked=(), feedback=()):
    if requests:
        core.on_inputs("recs.requests", feed.records("recs.requests", requests))
    if ranked:
        core.on_outputs("recs.ranked", feed.records("recs.ranked", ranked))
    if feedback:
        core.on_labels("recs.feedback", feed.records("recs.feedback", feedback))


def test_feedback_before_and_after_rankings_both_join_and_feed_the_challengers():
    core, _, sink = recs_memory_core(**{**ALL, "shadow": {**EVERY_LIST, "compare_every": 100}})
    _, requests, ranked, feedback = RecsTraffic(seed=3).batch(300)
    early = {orjson.loads(v)["request_id"] for _, v in ranked[:150]}
    first = [(u, v) for u, v in feedback if orjson.loads(v)["request_id"] in early]
    rest = [(u, v) for u, v in feedback if orjson.loads(v)["request_id"] not in early]
    feed = RecsFeed()
    _feed(core, feed, requests=requests, feedback=first)     # feedback before its ranking
    _feed(core, feed, ranked=ranked)
    _feed(core, feed, feedback=rest)                          # ranking before its feedback
    assert core.join.counters.joined == {"feedback_first": 150, "ranked_first": 150}
    assert core.champion.judged == 300 and core.join.pending == 0
    snapshot = core.champion.rolling.snapshot()
    assert snapshot["requests"] == 300 and 0 < snapshot["ctr@10"] < 0.5 and snapshot["impressions"] > 300
    shadow = core.shadow.snapshot()
    assert shadow["requests"] == 300 and set(shadow["challengers"]) == {"river_fm", "river_mf"}
    assert shadow["champion"]["overlap@10"] == 1.0
    assert all(0.0 <= c["overlap@10"] <= 1.0 for c in shadow["challengers"].values())
    assert len(sink) == 3  # one comparison record per 100 judged requests
    record = orjson.loads(sink[-1][1])
    assert record["kind"] == "ranking_comparison" and record["requests"] == 300


def test_replayed_records_are_skipped_and_duplicate_feedback_is_counted():
    core, _, _ = recs_memory_core(**NO_SHADOW)
    _, requests, ranked, feedback = RecsTraffic(seed=4).batch(50)
    feed = RecsFeed()
    ranked_records = feed.records("recs.ranked", ranked)
    feedback_records = feed.records("recs.feedback", feedback)
    core.on_outputs("recs.ranked", ranked_records)
    core.on_labels("recs.feedback", feedback_records)
    core.on_outputs("recs.ranked", ranked_records)          # a consumer redelivers after a restart
    core.on_labels("recs.feedback", feedback_records)
    assert core.champion.judged == 50 and core.join.pending == 0
    again = RecsFeed()  # same values at new offsets: the client resent its feedback
    core.on_outputs("recs.ranked", again.records("recs.ranked", ranked[:1]))
    core.on_labels("recs.feedback", again.records("recs.feedback", feedback[:1]))
    assert core.champion.judged == 50


def test_unmatched_halves_expire_by_what_they_waited_for_and_partial_lists_are_judged():
    now = [NOW]
    core, _, _ = recs_memory_core(lambda: now[0], **{**NO_SHADOW, "join": {"ttl_s": 60}})
    _, _, ranked, feedback = RecsTraffic(seed=5).batch(30)
    by_request: dict[str, list] = {}
    for user, value in feedback:
        by_request.setdefault(orjson.loads(value)["request_id"], []).append((user, value))
    ids = [orjson.loads(v)["request_id"] for _, v in ranked]
    feed = RecsFeed()
    _feed(core, feed, ranked=ranked[:20])                                   # 10..19: never any feedback
    _feed(core, feed, feedback=[fb for rid in ids[:10] for fb in by_request[rid][:1]])  # 0..9: one item only
    _feed(core, feed, feedback=[fb for rid in ids[20:] for fb in by_request[rid]])      # 20..29: no ranking
    assert core.champion.judged == 0
    now[0] += 61_000
    core.sweep()
    expired = core.join.counters.expired
    assert (expired.partial, expired.ranked_only, expired.feedback_only) == (10, 10, 10)
    assert core.champion.judged == 10 and core.join.pending == 0


def test_malformed_ranked_and_feedback_records_are_counted_not_fatal():
    core, _, _ = recs_memory_core(**NO_SHADOW)
    feed = RecsFeed()
    bad = [("u1", b"{not json"), ("u1", orjson.dumps({"request_id": "r"})), ("u1", b"[]")]
    core.on_outputs("recs.ranked", feed.records("recs.ranked", bad))
    core.on_labels("recs.feedback", feed.records("recs.feedback", bad + [("u1", orjson.dumps(
        {"request_id": "r", "item_id": "i", "position": 0, "clicked": True, "feedback_time": 1}))]))
    samples = {s.labels["stream"]: s.value for m in core.metrics.registry.collect()
               if m.name == "streaminfer_learn_malformed" for s in m.samples if s.name.endswith("_total")}
    assert samples == {"outputs": 3.0, "labels": 4.0}
    assert core.join.pending == 0


def test_a_taste_shift_raises_one_deduplicated_ctr_alert_per_detector():
    core, manager, _ = recs_memory_core(**{**NO_SHADOW, "feature_drift": {"enabled": False},
                                           "prediction_drift": {"enabled": False},
                                           "concept_drift": {"confirm_requests": 0}})
    traffic = RecsTraffic(seed=6, noise=0.3)
    feed = RecsFeed()
    for block in range(5):
        if block == 3:
            traffic.stream.set_drift(1.0)
        _, requests, ranked, feedback = traffic.batch(1000)
        _feed(core, feed, ranked=ranked, feedback=feedback)
    concept = [a for a in manager.sent if a.kind == "concept_drift"]
    assert concept, "the taste shift was not detected"
    subjects = [a.subject for a in concept]
    assert len(subjects) == len(set(subjects)) <= 2  # one per detector within the cooldown
    ctr = [a for a in concept if a.subject.endswith("ctr@10")]
    assert ctr and ctr[0].evidence["after"]["mean"] < ctr[0].evidence["before"]["mean"]
    assert 3000 <= ctr[0].evidence["window"]["events"] <= 4500  # found within ~1,500 requests of the shift


class _MemoryStore:
    topic = "state"

    def __init__(self):
        self.blobs: dict[str, bytes] = {}

    def save(self, component, blob):
        self.blobs[component] = blob
        return True

    def load_all(self):
        return dict(self.blobs)


def test_state_restores_warm_and_a_tampered_blob_is_refused():
    core, _, _ = recs_memory_core(**{**ALL, "shadow": {**EVERY_LIST, "compare_every": 50}})
    _, requests, ranked, feedback = RecsTraffic(seed=8).batch(120)
    _feed(core, RecsFeed(), requests=requests, ranked=ranked, feedback=feedback)
    store = _MemoryStore()
    Checkpointer(core, store, b"k" * 20, core.metrics, ("recs.requests", "recs.ranked", "recs.feedback")).save()

    restored, _, _ = recs_memory_core(**{**ALL, "shadow": {**EVERY_LIST, "compare_every": 50}})
    statuses = Checkpointer(restored, store, b"k" * 20, restored.metrics,
                            ("recs.requests", "recs.ranked", "recs.feedback")).restore(lambda *_: None)
    assert set(statuses.values()) == {RESTORED}
    assert restored.champion.judged == 120 and restored.shadow.snapshot()["requests"] == 120
    assert restored.detectors.update_counts() == core.detectors.update_counts()
    assert restored.positions.of("recs.ranked") == core.positions.of("recs.ranked")

    blob = bytearray(store.blobs["shadow"])
    blob[-5] ^= 0xFF
    store.blobs["shadow"] = bytes(blob)
    refused = []
    fresh, _, _ = recs_memory_core(**{**ALL, "shadow": {**EVERY_LIST, "compare_every": 50}})
    statuses = Checkpointer(fresh, store, b"k" * 20, fresh.metrics,
                            ("recs.requests", "recs.ranked", "recs.feedback")).restore(
        lambda component, reason: refused.append(component))
    assert statuses["shadow"] == REFUSED and refused == ["shadow"] and statuses["detectors"] == RESTORED
    assert fresh.champion.judged == 0  # the refused component starts fresh


def test_other_settings_start_components_fresh():
    core, _, _ = recs_memory_core(**NO_SHADOW)
    store = _MemoryStore()
    topics = ("recs.requests", "recs.ranked", "recs.feedback")
    Checkpointer(core, store, b"k" * 20, core.metrics, topics).save()
    other, _, _ = recs_memory_core(**{**NO_SHADOW, "ranking": {"k": 5}})
    statuses = Checkpointer(other, store, b"k" * 20, other.metrics, topics).restore(lambda *_: None)
    assert statuses["detectors"] == FRESH and statuses["shadow"] == FRESH and statuses["alerts"] == RESTORED


@pytest.mark.parametrize("direction", ["increase", "decrease"])
def test_confirmer_judges_the_bad_direction(direction):
    from engine.learn.confirm import ChangeConfirmer
    from engine.learn.monitor import DriftFinding

    finding = DriftFinding("s", "adwin", None, {"mean": 0.1, "n": 100}, {"mean": 0.05, "n": 10}, {}, 0, None)
    confirmer = ChangeConfirmer(10, 1.5, direction)
    confirmer.start(finding)
    verdict = None
    for _ in range(10):
        verdict = confirmer.update(0.05) or verdict
    assert verdict.confirmed is (direction == "decrease")


def test_challengers_see_only_their_sub_sample_of_the_joined_users():
    core, _, _ = recs_memory_core(**{**ALL, "shadow": {"sample_rate": 0.3}})
    _, requests, ranked, feedback = RecsTraffic(seed=9).batch(300)
    _feed(core, RecsFeed(), requests=requests, ranked=ranked, feedback=feedback)
    assert core.champion.judged == 300  # the champion is judged on the whole join sample
    seen = core.shadow.snapshot()["requests"]
    expected = sum(core.shadow_sampler.keep(user.encode()) for user, _ in ranked)
    assert seen == expected and 40 < seen < 160


def test_a_falling_share_of_new_items_does_not_alert():
    core, _, _ = recs_memory_core(**NO_SHADOW)
    monitors = core.detectors.features.monitors
    assert monitors["new_item_share"].direction == "increase"
    assert monitors["device_ios"].direction == "both"
