"""A micro-batch: a contiguous run of consumed records, decoded, with their model inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import Message

from engine.codec.decode import Rejection
from engine.pipeline.contract import ModelInputs


@dataclass(slots=True, eq=False)
class BatchPart:
    """One Triton request of a batch: some of its events, scored by one model version.

    A batch without a rollout has one part (every event, the champion). During a rollout the events
    are split by entity key: a champion part, a candidate part, and a mirror part that sends a
    champion part's very tensors to the candidate too, for the mirror topic and the paired score
    comparison.

    Attributes:
        role: ``champion``, ``candidate`` or ``mirror``.
        version: Model version to ask Triton for ('' = Triton's newest, only without a plan).
        positions: Positions into the batch's ``events`` this part scores, ascending.
        inputs: The plugin's tensors for exactly those events.
        outputs: Triton's outputs, once it answered.
        served_version: Version Triton reports for ``outputs``.
        attempts: Requests sent so far.
        retry_at: Monotonic time before which a failed part is not retried.
        fell_back: A candidate part re-pointed at the champion after the candidate failed.
        done: A mirror part finished (with outputs, or given up: mirror outputs are best effort).
        mirrors: Index (into the batch's parts) of the part a mirror part is compared with.
        reference_rows: Rows of that part's outputs that line up with this mirror part's rows
            (None: all of them, in order).
    """

    role: str
    version: str
    positions: list[int]
    inputs: ModelInputs
    outputs: dict[str, np.ndarray] | None = None
    served_version: str = ""
    attempts: int = 0
    retry_at: float = 0.0
    fell_back: bool = False
    done: bool = False
    mirrors: int = -1
    reference_rows: np.ndarray | None = None

    @property
    def finished(self) -> bool:
        """A scoring part has outputs; a mirror part is done either way."""
        return self.done if self.role == "mirror" else self.outputs is not None


@dataclass(slots=True, eq=False)
class MicroBatch:
    """Records consumed in order; published in order, all-or-nothing.

    Attributes:
        seq: Position in the worker's publish order.
        epoch: Worker epoch when created; a rewind bumps the epoch and orphans older batches.
        messages: The consumed records, in consume order (good and bad).
        good_index: Positions in ``messages`` of the valid events.
        events: The decoded valid events, parallel to ``good_index``.
        inputs: The plugin's named Triton input tensors for ``events``.
        rejects: Invalid records with the reason each goes to the dead-letter topic.
        consumed_at: ``time.time()`` when the first record was consumed.
        outputs: Triton's named outputs for ``inputs``, once inference succeeded.
        model_version: Version Triton reports for that output (the first part's, once published).
        parts: The batch's Triton requests, set when the worker cuts it (one, the champion's, without a
            rollout); empty for a batch of only rejects, or one whose ``outputs`` are set directly.
        plan: The rollout plan in force when the batch was cut (None: no plan).
        keys: Entity keys of ``events`` (only computed during a rollout).
        benched: Candidate-routed events the champion served because the candidate was benched.
    """

    seq: int
    epoch: int
    messages: list[Message]
    good_index: list[int]
    events: list[dict[str, Any]]
    inputs: ModelInputs
    rejects: list[Rejection]
    consumed_at: float
    outputs: dict[str, np.ndarray] | None = None
    model_version: str = ""
    parts: list[BatchPart] = field(default_factory=list)
    plan: Any = None
    keys: list[str] | None = None
    benched: int = 0

    @property
    def publishable(self) -> bool:
        """Every part finished (a batch of only rejects: once marked with empty ``outputs``)."""
        if self.parts:
            return all(part.finished for part in self.parts)
        return self.outputs is not None

    @property
    def needs_inference(self) -> bool:
        """False for a batch of only rejects: it can be published at once."""
        return bool(self.good_index)

    def next_positions(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition): the offset after the last record of this batch."""
        positions: dict[tuple[str, int], int] = {}
        for message in self.messages:
            positions[(message.topic(), message.partition())] = message.offset() + 1
        return positions
