"""What the librdkafka readers hand the core: dropped records still count and move the positions; the join
table's writes reach the changelog; a checkpoint is saved only once the changelog holds what it covers."""

from __future__ import annotations

import orjson
from prometheus_client import CollectorRegistry

from engine.learn.app import LearnRuntime
from engine.learn.checkpoint import Checkpointer
from engine.learn.faust_store import FaustTableStore
from engine.learn.join import ScoreLabelJoin
from engine.learn.positions import Positions
from engine.learn.telemetry import LearnMetrics
from models.fraud.generator import FraudGenerator
from models.fraud.learning.devtools import RecordFeed, label_values, memory_core, score_record

NOW = 1_800_000_000_000


def test_advance_to_takes_start_offsets_and_never_moves_back():
    positions = Positions()
    positions.advance_to("labels", {0: 10, 1: 0})              # a reader's resolved start offsets
    assert positions.of("labels") == {0: 10, 1: 0}
    assert not positions.fresh("labels", 0, 9) and positions.fresh("labels", 0, 10)
    positions.advance_to("labels", {0: 4, 1: 7})               # an older view never undoes progress
    assert positions.of("labels") == {0: 10, 1: 7}


def test_records_a_reader_drops_by_key_are_counted_and_covered_by_the_positions():
    core, _, _ = memory_core(NOW, sampling={"feature_rate": 0.5, "join_rate": 0.5})
    events, labels = FraudGenerator(seed=31).batch(400)
    records = RecordFeed().records("labels", events, label_values(events, labels, NOW))
    kept = [r for r in records if core.join_sampler.keep(r.key)]
    through: dict[int, int] = {}
    for r in records:
        through[r.partition] = max(through.get(r.partition, 0), r.offset + 1)

    core.on_labels("labels", kept)
    core.on_skipped("labels", "labels", len(records) - len(kept), through)

    assert core.positions.of("labels") == through
    assert all(not core.positions.fresh("labels", r.partition, r.offset) for r in records)
    sample = core.metrics.registry.get_sample_value
    assert sample("streaminfer_learn_records_total", {"pipeline": "fraud", "stream": "labels"}) == 400
    assert 0 < len(kept) < 400


class _Table:
    """The part of a faust table the store touches."""

    def __init__(self):
        self.data: dict[bytes, bytes] = {}


class _Changelog:
    def __init__(self, pending: int = 0):
        self.records: list[tuple[int, bytes, bytes | None]] = []
        self.pending = pending
        self.calls: list[str] = []

    def append(self, partition, key, value):
        self.records.append((partition, key, value))

    def flush(self, timeout=10.0):
        self.calls.append("flush")
        return self.pending


def test_faust_table_store_writes_memory_and_changelog_on_the_source_partition():
    table, changelog = _Table(), _Changelog()
    store = FaustTableStore(table, changelog)
    store.put(4, b"e1", b"v1")
    assert store.get(b"e1") == b"v1" and len(store) == 1
    store.delete(4, b"e1")
    store.delete(5, b"missing")                                # a tombstone is harmless when absent
    assert store.get(b"e1") is None and len(store) == 0
    assert changelog.records == [(4, b"e1", b"v1"), (4, b"e1", None), (5, b"missing", None)]


def test_a_join_on_the_faust_store_sends_every_change_to_the_changelog():
    changelog = _Changelog()
    join = ScoreLabelJoin(FaustTableStore(_Table(), changelog), ttl_ms=10_000, max_pending=1000)
    join.add_score(3, b"card", "e1", 0.8, "fraud", "1", 1_000, now_ms=0)
    assert join.add_label(3, b"card", "e1", 1, 2_000, 1_000, now_ms=5) is not None
    assert [(p, k, v is None) for p, k, v in changelog.records] == [(3, b"e1", False), (3, b"e1", True)]


class _Store:
    topic = "memory-state"

    def __init__(self, calls):
        self.blobs: dict[str, bytes] = {}
        self.calls = calls

    def save(self, component, blob):
        self.calls.append("save")
        self.blobs[component] = blob
        return True


def _runtime(pending: int):
    core, _, _ = memory_core(NOW, sampling={"feature_rate": 1.0, "join_rate": 1.0})
    events, labels = FraudGenerator(seed=32).batch(50)
    feed = RecordFeed()
    core.on_inputs("tx", feed.records("tx", events, orjson.dumps))
    core.on_outputs("scores", feed.records("scores", events, lambda e: score_record(e, 0, "tx")))
    changelog = _Changelog(pending)
    metrics = LearnMetrics("fraud", CollectorRegistry())
    checkpointer = Checkpointer(core, _Store(changelog.calls), b"k" * 20, metrics, ("tx", "scores", "labels"))
    return LearnRuntime(None, core, checkpointer, None, metrics, None, core.settings, changelog), changelog


def test_a_checkpoint_is_saved_after_the_changelog_it_covers_is_flushed():
    runtime, changelog = _runtime(pending=0)
    runtime.checkpoint()
    assert changelog.calls == ["flush"] + ["save"] * 4
    assert set(runtime.checkpointer.store.blobs) == {"detectors", "shadow", "alerts", "positions"}


def test_a_checkpoint_is_skipped_while_changelog_records_are_unacknowledged():
    runtime, changelog = _runtime(pending=3)
    runtime.checkpoint()
    assert changelog.calls == ["flush"] and runtime.checkpointer.store.blobs == {}
    sample = runtime.metrics.registry.get_sample_value
    assert sample("streaminfer_learn_checkpoints_total", {"pipeline": "fraud", "outcome": "failed"}) == 1
