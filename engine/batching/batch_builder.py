"""Turns consumed records into micro-batches: rows-or-deadline cut, vectorised decode and features."""

from __future__ import annotations

import importlib
import time
from typing import Any, Protocol

import numpy as np
from confluent_kafka import Message

from engine.batching.micro_batch import MicroBatch
from engine.codec.decode import EventDecoder, Rejection
from engine.codec.reasons import DlqReason
from engine.errors import ConfigError


class FeatureExtractor(Protocol):
    """What a pipeline's features class provides (see ``models/fraud/features.py``)."""

    FEATURE_NAMES: list[str]

    def extract(self, events: list[dict[str, Any]]) -> np.ndarray: ...


def load_feature_extractor(import_path: str) -> FeatureExtractor:
    """Instantiate ``module:Class`` named in the pipeline config."""
    module_name, _, class_name = import_path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"features: cannot import {import_path!r}: {exc}") from None
    return cls()


class BatchBuilder:
    """Buffers consumed records and cuts micro-batches at ``max_rows`` records or ``max_delay_s``.

    Decoding and feature extraction happen once per batch; only records that fail them are
    handled one by one (and go to the dead-letter topic with a reason).
    """

    def __init__(self, decoder: EventDecoder, features: FeatureExtractor, max_rows: int, max_delay_s: float) -> None:
        self.decoder = decoder
        self.features = features
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self._width = len(features.FEATURE_NAMES)
        self._buffer: list[Message] = []
        self._first_at = 0.0  # monotonic time the oldest buffered record arrived
        self._first_wall = 0.0
        self._seq = 0

    @property
    def last_seq(self) -> int:
        """Sequence number of the last batch cut."""
        return self._seq

    def __len__(self) -> int:
        return len(self._buffer)

    def add(self, messages: list[Message]) -> None:
        """Buffer consumed records (in consume order)."""
        if messages:
            if not self._buffer:
                self._first_at = time.monotonic()
                self._first_wall = time.time()
            self._buffer.extend(messages)

    def time_to_deadline(self) -> float:
        """Seconds until the buffered records must be cut (inf when the buffer is empty)."""
        if not self._buffer:
            return float("inf")
        return max(0.0, self._first_at + self.max_delay_s - time.monotonic())

    def ready(self) -> bool:
        """True when a batch should be cut now (full, or the oldest record reached the deadline)."""
        return len(self._buffer) >= self.max_rows or (bool(self._buffer) and self.time_to_deadline() <= 0.0)

    def cut(self, epoch: int, force: bool = False) -> MicroBatch | None:
        """The next micro-batch (≤ max_rows records), or None if not ready and not forced."""
        if not self._buffer or not (force or self.ready()):
            return None
        messages = self._buffer[: self.max_rows]
        del self._buffer[: self.max_rows]
        consumed_at = self._first_wall
        # Records left in the buffer keep the oldest deadline: cutting early is safe, late is not.
        self._seq += 1
        return self.build(self._seq, epoch, messages, consumed_at)

    def discard(self) -> None:
        """Forget buffered records (after a rewind they will be consumed again)."""
        self._buffer.clear()

    def build(self, seq: int, epoch: int, messages: list[Message], consumed_at: float) -> MicroBatch:
        """Decode, validate and extract features for one run of records."""
        decoded = self.decoder.decode_batch([m.value() for m in messages])
        good_index, events, rejects = decoded.good_index, decoded.events, list(decoded.rejects)
        features = self._extract(events)
        if features is None:  # some event broke extraction: find it, one by one
            good_index, events, rows, extra = self._extract_one_by_one(good_index, events)
            rejects = sorted(rejects + extra, key=lambda r: r.index)
            features = np.asarray(rows, dtype=np.float32).reshape(len(rows), self._width)
        return MicroBatch(seq, epoch, messages, good_index, events, features, rejects, consumed_at)

    def _extract(self, events: list[dict[str, Any]]) -> np.ndarray | None:
        if not events:
            return np.empty((0, self._width), dtype=np.float32)
        try:
            matrix = self.features.extract(events)
        except Exception:  # noqa: BLE001 — any failure: fall back to per-event to isolate it
            return None
        if matrix.shape != (len(events), self._width) or not np.isfinite(matrix).all():
            return None
        return np.ascontiguousarray(matrix, dtype=np.float32)

    def _extract_one_by_one(self, good_index: list[int], events: list[dict[str, Any]]):
        kept_index, kept_events, rows, rejects = [], [], [], []
        for index, event in zip(good_index, events):
            try:
                row = self.features.extract([event])
                if row.shape != (1, self._width):
                    raise ValueError(f"extractor returned shape {row.shape}, expected (1, {self._width})")
                if not np.isfinite(row).all():
                    bad = [self.features.FEATURE_NAMES[i] for i in np.flatnonzero(~np.isfinite(row[0]))]
                    raise ValueError(f"non-finite feature(s): {', '.join(bad[:5])}")
            except Exception as exc:  # noqa: BLE001 — the event, not the engine, is at fault
                rejects.append(Rejection(index, DlqReason.FEATURE_EXTRACTION_FAILED, f"{type(exc).__name__}: {exc}"))
                continue
            kept_index.append(index)
            kept_events.append(event)
            rows.append(row[0])
        return kept_index, kept_events, rows, rejects
