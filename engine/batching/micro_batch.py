"""A micro-batch: a contiguous run of consumed records, decoded, with their model inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import Message

from engine.codec.decode import Rejection
from engine.pipeline.contract import ModelInputs


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
        model_version: Version Triton reports for that output.
        attempts: Inference attempts so far.
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
    attempts: int = 0
    retry_at: float = 0.0
    last_error: str = field(default="")

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
