"""Saves the learner's components as sealed blobs and restores them, refusing tampered ones.

Components are sealed one by one, so a refused ``shadow`` blob resets the challengers only. Each blob
also carries a fingerprint of the settings that shaped it: after a configuration change (another
detector, another learner) the component starts fresh instead of resuming an object of the wrong shape.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import orjson

from engine.learn.core import LearnCore
from engine.learn.state import KafkaStateStore, StateIntegrityError, seal, unseal
from engine.learn.telemetry import LearnMetrics

log = logging.getLogger("streaminfer.learn.checkpoint")

RESTORED, FRESH, REFUSED = 1, 0, -1


class Checkpointer:
    """Moves :class:`LearnCore` state to and from a :class:`KafkaStateStore`.

    Args:
        core: The learner whose state is saved.
        store: Where blobs go.
        key: HMAC key.
        metrics: Prometheus metrics.
        topics: Topic names whose positions the state covers (part of the positions fingerprint).
    """

    def __init__(self, core: LearnCore | Any, store: KafkaStateStore, key: bytes, metrics: LearnMetrics,
                 topics: tuple[str, ...]) -> None:
        self.core = core
        self.store = store
        self._key = key
        self.metrics = metrics
        parts = getattr(core, "state_parts", None)
        if parts is not None:  # a learner that names its own components
            named = parts()
            self._fingerprints = {name: _fingerprint(*shape) for name, (shape, _, _) in named.items()}
            self._fingerprints["positions"] = _fingerprint(list(topics), *named["positions"][0])
            self._getters = {name: get for name, (_, get, _) in named.items()}
            self._apply = {name: put for name, (_, _, put) in named.items()}
            self.statuses = {}
            return
        s = core.settings
        features = list(core.feature_names)
        self._fingerprints = {
            "detectors": _fingerprint(s.feature_drift, s.prediction_drift, s.concept_drift, features),
            "shadow": _fingerprint(s.shadow, s.concept_drift.threshold, features),
            "alerts": _fingerprint(s.alerts),
            "positions": _fingerprint(list(topics), s.sampling),
        }
        self._apply: dict[str, Callable[[Any], None]] = {
            "detectors": lambda obj: setattr(core, "detectors", obj),
            "shadow": self._apply_shadow,
            "alerts": lambda obj: setattr(core.alerts, "gate", obj),
            "positions": lambda obj: setattr(core, "positions", obj),
        }
        self._getters = {"detectors": lambda: core.detectors, "shadow": lambda: (core.shadow, core.champion),
                         "alerts": lambda: core.alerts.gate, "positions": lambda: core.positions}
        self.statuses: dict[str, int] = {}

    def _apply_shadow(self, obj: Any) -> None:
        self.core.shadow, self.core.champion = obj

    def _objects(self) -> dict[str, Any]:
        return {name: get() for name, get in self._getters.items()}

    def seal(self) -> dict[str, bytes]:
        """Every component sealed now: the snapshot a later :meth:`save` writes."""
        return {name: seal({"fingerprint": self._fingerprints[name], "state": obj}, self._key, name)
                for name, obj in self._objects().items()}

    def save(self, blobs: dict[str, bytes] | None = None) -> int:
        """Enqueue sealed components (sealed now if not given); returns the bytes written (0 if any failed)."""
        total = 0
        ok = True
        for name, blob in (self.seal() if blobs is None else blobs).items():
            ok = self.store.save(name, blob) and ok
            total += len(blob)
        self.metrics.checkpoint("saved" if ok else "failed")
        return total if ok else 0

    def restore(self, on_refused: Callable[[str, str], None]) -> dict[str, int]:
        """Restore every component found; ``on_refused(component, reason)`` for each tampered one.

        Returns:
            component → RESTORED, FRESH or REFUSED.
        """
        blobs = self.store.load_all()
        for name in self._apply:
            status = FRESH
            blob = blobs.get(name)
            if blob is not None:
                status = self._restore_one(name, blob, on_refused)
            self.statuses[name] = status
            self.metrics.restored(name, status)
        log.info("state restored from %s: %s", self.store.topic,
                 ", ".join(f"{n}={ {1: 'restored', 0: 'fresh', -1: 'REFUSED'}[s] }" for n, s in self.statuses.items()))
        return dict(self.statuses)

    def _restore_one(self, name: str, blob: bytes, on_refused: Callable[[str, str], None]) -> int:
        try:
            document = unseal(blob, self._key, name)
        except StateIntegrityError as exc:
            log.error("%s — starting %s fresh", exc, name)
            on_refused(name, str(exc))
            return REFUSED
        except Exception as exc:  # noqa: BLE001 — authentic but unreadable (code moved): fresh, not a crash
            log.error("state %s: authentic but cannot be loaded (%s: %s); starting fresh", name,
                      type(exc).__name__, exc)
            return FRESH
        if not isinstance(document, dict) or document.get("fingerprint") != self._fingerprints[name]:
            log.warning("state %s: saved under other settings; starting fresh", name)
            return FRESH
        self._apply[name](document["state"])
        return RESTORED


def _fingerprint(*parts: Any) -> str:
    def default(obj: Any) -> Any:
        if hasattr(obj, "model_dump"):
            return obj.model_dump(mode="json")
        raise TypeError(type(obj).__name__)
    return hashlib.sha256(orjson.dumps(parts, default=default, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
