"""Turns consumed records into micro-batches: rows-or-deadline cut, vectorised decode, the pipeline
plugin's tensors."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from confluent_kafka import Message

from engine.batching.micro_batch import MicroBatch
from engine.codec.decode import EventDecoder, Rejection
from engine.codec.reasons import DlqReason
from engine.pipeline.contract import EventRejected, ModelInputs, PipelinePlugin


class BatchBuilder:
    """Buffers consumed records and cuts micro-batches at ``max_rows`` records or ``max_delay_s``.

    Decoding and the plugin's ``encode`` happen once per batch; only records that fail them are
    handled one by one (and go to the dead-letter topic with a reason).
    """

    def __init__(self, decoder: EventDecoder, plugin: PipelinePlugin, max_rows: int, max_delay_s: float) -> None:
        self.decoder = decoder
        self.plugin = plugin
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
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
        """Decode, validate and encode one run of records into the model's input tensors."""
        decoded = self.decoder.decode_batch([m.value() for m in messages])
        good_index, events, rejects = decoded.good_index, decoded.events, list(decoded.rejects)
        inputs = self._encode(events)[0] if events else _EMPTY
        if inputs is None:  # some event broke encoding: find it, one by one, then encode the rest together
            good_index, events, extra = self._isolate(good_index, events)
            rejects = sorted(rejects + extra, key=lambda r: r.index)
            inputs = self._encode(events)[0] if events else _EMPTY
            if inputs is None:  # each event encodes alone but not together: a plugin bug, never the input's
                raise RuntimeError(f"plugin {self.plugin.name!r}: encode fails on a batch whose events each encode")
        return MicroBatch(seq, epoch, messages, good_index, events, inputs, rejects, consumed_at)

    def _encode(self, events: list[dict[str, Any]]) -> tuple[ModelInputs | None, Rejection | None]:
        """(inputs, None), or (None, why) when the plugin raised or returned something unusable."""
        try:
            inputs = self.plugin.encode(events)
            problem = _check_inputs(inputs, self.plugin.model_inputs, self.plugin.input_columns)
        except EventRejected as exc:
            return None, Rejection(-1, exc.reason, str(exc))
        except Exception as exc:  # noqa: BLE001 — any failure: isolate it event by event
            return None, Rejection(-1, DlqReason.FEATURE_EXTRACTION_FAILED, f"{type(exc).__name__}: {exc}")
        if problem:
            return None, Rejection(-1, DlqReason.FEATURE_EXTRACTION_FAILED, problem)
        return inputs, None

    def _isolate(self, good_index: list[int], events: list[dict[str, Any]]):
        kept_index, kept_events, rejects = [], [], []
        for index, event in zip(good_index, events):
            inputs, why = self._encode([event])
            if inputs is None:
                rejects.append(why._replace(index=index))
                continue
            kept_index.append(index)
            kept_events.append(event)
        return kept_index, kept_events, rejects


_EMPTY = ModelInputs({}, 0)


def _check_inputs(inputs: ModelInputs, names: tuple[str, ...], columns: dict[str, tuple[str, ...]]) -> str | None:
    """Why the plugin's tensors cannot go to Triton (None when they can): every named input present,
    ``rows`` long, finite when floating point (non-finite columns named when the plugin names them)."""
    if not isinstance(inputs, ModelInputs):
        return f"encode returned {type(inputs).__name__}, expected ModelInputs"
    for name in names:
        array = inputs.tensors.get(name)
        if not isinstance(array, np.ndarray):
            return f"encode returned no array for model input {name!r}"
        if array.ndim == 0 or array.shape[0] != inputs.rows:
            return f"model input {name!r} has shape {array.shape}, expected {inputs.rows} rows"
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = np.flatnonzero(~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=0))
            labels = columns.get(name)
            if labels:
                return f"non-finite feature(s): {', '.join(labels[i] for i in bad[:5])}"
            return f"non-finite value(s) in model input {name!r} (columns {', '.join(map(str, bad[:5]))})"
    return None
