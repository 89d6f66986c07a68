"""An on-disk cache of evaluation signals, so detectors can be compared without regenerating streams.

Generating a signal (pure-Python River streams and an online model, ~25 s per 100k Agrawal events on
the 2-core box) costs minutes to most of an hour per protocol run, while running the detectors on it
costs seconds. A signal is a deterministic function of its :class:`StreamSpec`, the signal model and
the River version, so those are the key; anything else (a changed model, a River upgrade) misses.
A file that cannot be read is regenerated, never trusted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import river

from engine.drift_eval.signals import MODEL_DESCRIPTION, SignalTrace, TrueDrift
from engine.drift_eval.streams import CONCEPTS, StreamSpec

log = logging.getLogger("streaminfer.drift_eval")

#: Bump when the signal code changes in a way the key does not capture.
CACHE_FORMAT = 1


class SignalCache:
    """Signals stored as ``<dir>/<stream>-<digest>.npz``.

    Args:
        directory: Where the files live (created on first store).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0

    def path(self, spec: StreamSpec) -> Path:
        """The file of ``spec``; its digest covers everything the signal depends on."""
        key = repr((CACHE_FORMAT, spec, CONCEPTS[spec.generator], MODEL_DESCRIPTION, river.__version__))
        return self.directory / f"{spec.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"

    def load(self, spec: StreamSpec) -> SignalTrace | None:
        """The cached signal, or ``None`` (missing or unreadable)."""
        path = self.path(spec)
        if not path.exists():
            self.misses += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                errors = data["errors"].astype(np.int8)
                drifts = tuple(TrueDrift(*map(int, row)) for row in data["drifts"].reshape(-1, 3))
        except Exception as exc:  # noqa: BLE001 — any unreadable file is a miss, regenerated below
            log.warning("signal cache: %s unreadable (%s); regenerating", path, exc)
            self.misses += 1
            return None
        self.hits += 1
        return SignalTrace(spec, errors, drifts)

    def store(self, trace: SignalTrace) -> None:
        """Write atomically (temp file + rename), so a crash never leaves a half-written signal."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(trace.spec)
        drifts = np.array([(d.start, d.centre, d.end) for d in trace.drifts], dtype=np.int64).reshape(-1, 3)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez_compressed(handle, errors=trace.errors, drifts=drifts)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
