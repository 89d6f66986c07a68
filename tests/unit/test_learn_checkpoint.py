"""Checkpoints: components come back restored, fresh, or refused (tampered) — never crash the learner."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client import CollectorRegistry

from engine.learn.checkpoint import FRESH, REFUSED, RESTORED, Checkpointer
from engine.learn.state import seal
from engine.learn.telemetry import LearnMetrics
from models.fraud.generator import FraudGenerator
from models.fraud.learning.devtools import RecordFeed, label_values, memory_core, score_record

KEY = b"0123456789abcdef0123"
NOW = 1_800_000_000_000


def _core(**sections):
    return memory_core(NOW, sampling={"feature_rate": 1.0, "join_rate": 1.0}, **sections)


class MemoryStore:
    """KafkaStateStore's interface over a dict."""

    topic = "memory-state"

    def __init__(self):
        self.blobs: dict[str, bytes] = {}

    def save(self, component, blob):
        self.blobs[component] = blob
        return True

    def load_all(self):
        return dict(self.blobs)


def _trained(**sections):
    core, _, _ = _core(feature_drift={"enabled": False}, **sections)
    events, labels = FraudGenerator(seed=21).batch(300)
    feed = RecordFeed()
    core.on_inputs("tx", feed.records("tx", events, orjson.dumps))
    core.on_outputs("scores", feed.records("scores", events, lambda e: score_record(e, 0, "tx")))
    core.on_labels("labels", feed.records("labels", events, label_values(events, labels, NOW)))
    return core


@pytest.fixture(scope="module")
def saved_blobs() -> dict[str, bytes]:
    """One trained learner's checkpoint, sealed once for the whole module."""
    store = MemoryStore()
    trained = _trained()
    assert _checkpointer(trained, store).save() > 0
    store.blobs["_positions_of_labels"] = repr(trained.positions.of("labels")).encode()
    return store.blobs


def _store(blobs) -> MemoryStore:
    store = MemoryStore()
    store.blobs = {k: v for k, v in blobs.items() if not k.startswith("_")}
    return store


def _checkpointer(core, store):
    return Checkpointer(core, store, KEY, LearnMetrics("fraud", CollectorRegistry()), ("tx", "scores", "labels"))


def test_restore_brings_back_learners_detectors_gate_and_positions(saved_blobs):
    fresh, _, _ = _core(feature_drift={"enabled": False})
    refused = []
    statuses = _checkpointer(fresh, _store(saved_blobs)).restore(lambda c, r: refused.append(c))
    assert statuses == {"detectors": RESTORED, "shadow": RESTORED, "alerts": RESTORED, "positions": RESTORED}
    assert refused == []
    assert [m.n_learned for m in fresh.shadow.models] == [300, 300]
    assert fresh.detectors.prediction.n_updates == 300
    assert repr(fresh.positions.of("labels")).encode() == saved_blobs["_positions_of_labels"]


def test_a_tampered_component_is_refused_alerted_and_started_fresh(saved_blobs):
    store = _store(saved_blobs)
    blob = store.blobs["shadow"]
    store.blobs["shadow"] = blob[:-1] + bytes([blob[-1] ^ 0xFF])
    fresh, _, _ = _core(feature_drift={"enabled": False})
    refused = []
    statuses = _checkpointer(fresh, store).restore(lambda component, reason: refused.append((component, reason)))
    assert statuses["shadow"] == REFUSED and statuses["detectors"] == RESTORED
    assert refused and refused[0][0] == "shadow" and "HMAC" in refused[0][1]
    assert [m.n_learned for m in fresh.shadow.models] == [0, 0]     # fresh, not crashed


def test_state_saved_under_other_settings_starts_fresh(saved_blobs):
    other, _, _ = _core(feature_drift={"enabled": False},
                        shadow={"models": [{"name": "only_lr", "kind": "logistic_regression"}]})
    statuses = _checkpointer(other, _store(saved_blobs)).restore(lambda *_: pytest.fail("not a tamper"))
    assert statuses["shadow"] == FRESH and statuses["detectors"] == RESTORED


def test_an_authentic_but_unloadable_blob_starts_fresh():
    store = MemoryStore()
    store.blobs["detectors"] = seal("not a document", KEY, "detectors")
    core, _, _ = _core()
    assert _checkpointer(core, store).restore(lambda *_: None)["detectors"] == FRESH
