"""Logged requests with the world's truth for every (request, candidate) row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ClickLog:
    """Requests and one row per distinct candidate, in :func:`features.request_tensors` order.

    Rows of request ``r`` are ``offsets[r]:offsets[r + 1]``: its distinct candidates in
    first-occurrence order, which is the order the candidates were logged (shown) in.

    Attributes:
        requests: The recs.requests events.
        offsets: int64 [n_requests + 1].
        item_ids: Item id per row.
        position: 1-based logged position per row (the logging policy shows candidates
            in their random retrieval order, so position carries no information about relevance).
        p_relevant: True P(relevant) per row, from the world's tastes.
        relevant: Sampled relevance per row: would the user click it if they examined it.
        clicked: Logged click per row: relevant and examined (position-biased).
        cold_user: Per request, whether the user is outside the world's known users.
        cold_item: Per row, whether the item is outside the world's catalogue.
    """

    requests: list[dict[str, Any]]
    offsets: np.ndarray
    item_ids: np.ndarray
    position: np.ndarray
    p_relevant: np.ndarray
    relevant: np.ndarray
    clicked: np.ndarray
    cold_user: np.ndarray
    cold_item: np.ndarray

    def __len__(self) -> int:
        return len(self.requests)

    @property
    def n_rows(self) -> int:
        """Number of (request, candidate) rows."""
        return int(self.offsets[-1])

    def label(self, name: str) -> np.ndarray:
        """A label column by name: ``"relevant"`` or ``"clicked"``."""
        if name not in ("relevant", "clicked"):
            raise ValueError(f"unknown label {name!r}")
        return getattr(self, name)

    def take(self, request_mask: np.ndarray) -> ClickLog:
        """The sub-log of the requests where ``request_mask`` is true."""
        keep = np.flatnonzero(request_mask)
        counts = np.diff(self.offsets)[keep]
        rows = np.repeat(self.offsets[keep], counts) + positions_in_segments(counts)
        return ClickLog(
            requests=[self.requests[i] for i in keep.tolist()],
            offsets=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
            item_ids=self.item_ids[rows],
            position=self.position[rows],
            p_relevant=self.p_relevant[rows],
            relevant=self.relevant[rows],
            clicked=self.clicked[rows],
            cold_user=self.cold_user[keep],
            cold_item=self.cold_item[rows],
        )

    @classmethod
    def empty(cls) -> ClickLog:
        """A log without requests."""
        rows = np.zeros(0, bool)
        return cls([], np.zeros(1, np.int64), np.zeros(0, np.str_), np.zeros(0, np.int64), np.zeros(0), rows, rows,
                   rows, rows)

    @classmethod
    def concat(cls, parts: list[ClickLog]) -> ClickLog:
        """Join logs one after another."""
        if not parts:
            raise ValueError("nothing to concatenate")
        shifts = np.cumsum([0] + [p.n_rows for p in parts[:-1]])
        return cls(
            requests=[r for p in parts for r in p.requests],
            offsets=np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, shifts)]).astype(np.int64),
            item_ids=np.concatenate([p.item_ids for p in parts]),
            position=np.concatenate([p.position for p in parts]),
            p_relevant=np.concatenate([p.p_relevant for p in parts]),
            relevant=np.concatenate([p.relevant for p in parts]),
            clicked=np.concatenate([p.clicked for p in parts]),
            cold_user=np.concatenate([p.cold_user for p in parts]),
            cold_item=np.concatenate([p.cold_item for p in parts]),
        )


def positions_in_segments(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated: each row's position within its request, vectorised."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts
