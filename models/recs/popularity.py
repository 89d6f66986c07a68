"""The baseline every ranker must beat: rank candidates by their training-time positives."""

from __future__ import annotations

import numpy as np


class PopularityRanker:
    """Scores an item by how many positive labels it had in the training log.

    Items never seen score 0; ties keep candidate order in the metrics (a stable sort).
    """

    def __init__(self) -> None:
        self._ids = np.zeros(0, np.str_)
        self._counts = np.zeros(0, np.float64)

    def fit(self, item_ids: np.ndarray, labels: np.ndarray) -> PopularityRanker:
        """Count positives per item id; returns self."""
        ids, inverse = np.unique(np.asarray(item_ids, dtype=np.str_), return_inverse=True)
        self._ids = ids
        self._counts = np.bincount(inverse, weights=np.asarray(labels, dtype=np.float64), minlength=len(ids))
        return self

    def score(self, item_ids: np.ndarray) -> np.ndarray:
        """Training positives of each item (float64), 0 for an unseen id."""
        ids = np.asarray(item_ids, dtype=np.str_)
        if len(self._ids) == 0:
            return np.zeros(len(ids))
        where = np.minimum(np.searchsorted(self._ids, ids), len(self._ids) - 1)
        return np.where(self._ids[where] == ids, self._counts[where], 0.0)
