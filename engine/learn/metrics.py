"""Rolling binary-classification metrics over the last ``window`` labelled predictions.

A ring buffer of (label, probability) with the metrics computed on demand in numpy: updates are O(1)
and a read is one sort, so the comparison every few thousand labels costs microseconds per label.
ROC AUC is exact (Mann-Whitney with tied ranks), unlike an approximate streaming AUC.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

_EPS = 1e-15


def binary_log_losses(labels: np.ndarray, probas: np.ndarray) -> np.ndarray:
    """Per-example binary cross-entropy, probabilities clipped so a certain mistake stays finite."""
    p = np.clip(np.asarray(probas, dtype=np.float64), _EPS, 1 - _EPS)
    return -np.where(np.asarray(labels) == 1, np.log(p), np.log1p(-p))


class RollingBinaryMetrics:
    """ROC AUC, log loss and accuracy of the last ``window`` predictions.

    Args:
        window: Number of most recent (label, probability) pairs kept.
        threshold: Probability at or above which the prediction counts as positive (accuracy).
    """

    def __init__(self, window: int, threshold: float = 0.5) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self.threshold = threshold
        self._labels = np.zeros(window, dtype=np.int8)
        self._probas = np.zeros(window, dtype=np.float64)
        self._next = 0
        self._filled = 0
        self.n_seen = 0

    def update(self, label: int, proba: float) -> None:
        """Add one labelled prediction."""
        self._labels[self._next] = label
        self._probas[self._next] = proba
        self._next = (self._next + 1) % self.window
        self._filled = min(self._filled + 1, self.window)
        self.n_seen += 1

    def update_many(self, labels: Sequence[int], probas: Sequence[float]) -> None:
        """Add several labelled predictions, oldest first."""
        for label, proba in zip(labels, probas):
            self.update(label, proba)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self._labels[:self._filled], self._probas[:self._filled]

    @property
    def n(self) -> int:
        """Pairs currently in the window."""
        return self._filled

    @property
    def positives(self) -> int:
        """Positive labels in the window."""
        return int(self._arrays()[0].sum())

    def roc_auc(self) -> float | None:
        """Area under the ROC curve; ``None`` until both classes are in the window."""
        labels, probas = self._arrays()
        n_pos = int(labels.sum())
        n_neg = labels.size - n_pos
        if n_pos == 0 or n_neg == 0:
            return None
        ranks = rankdata(probas)  # average ranks: ties count one half
        return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

    def log_loss(self) -> float | None:
        """Mean binary cross-entropy; ``None`` on an empty window."""
        labels, probas = self._arrays()
        if labels.size == 0:
            return None
        return float(binary_log_losses(labels, probas).mean())

    def accuracy(self) -> float | None:
        """Share of correct thresholded predictions; ``None`` on an empty window."""
        labels, probas = self._arrays()
        if labels.size == 0:
            return None
        return float(np.mean((probas >= self.threshold) == (labels == 1)))

    def snapshot(self) -> dict[str, float | int | None]:
        """All metrics at once, for records and gauges."""
        return {"n": self.n, "positives": self.positives, "roc_auc": self.roc_auc(),
                "log_loss": self.log_loss(), "accuracy": self.accuracy()}


class TimeWindowedBinaryMetrics:
    """ROC AUC, log loss and accuracy of the predictions labelled in the last ``span_s`` seconds.

    The clock is the caller's (the label's arrival time, ms), so a replay gives the same figures and a
    learner catching up on a backlog reports the windows the labels really fell in; "last" means before
    the newest time seen, so a window holds its final figures while no labels come. Memory is bounded
    whatever the label rate: the span is cut into ``buckets`` slots, each holding counts, a log-loss sum
    and two score histograms (positives, negatives) on a logit scale; ROC AUC comes from the summed
    histograms (Mann-Whitney, a pair in one bin counting one half), within ~0.005 of the exact figure
    (tested). A label older than the window when it arrives is counted in ``late``.

    Args:
        span_s: Window length in seconds.
        threshold: Probability at or above which the prediction counts as positive (accuracy).
        buckets: Slots the span is cut into (the window moves a slot at a time).
    """

    BINS = 256
    LOGIT_LIMIT = 12.0  # |logit| beyond this (p < 6e-6 or > 1 - 6e-6) shares the outermost bin

    def __init__(self, span_s: float, threshold: float = 0.5, buckets: int = 30) -> None:
        if span_s <= 0 or buckets < 1:
            raise ValueError(f"span_s must be > 0 and buckets >= 1, got {span_s}, {buckets}")
        self.span_s = span_s
        self.threshold = threshold
        self.n_buckets = buckets
        self.bucket_ms = max(1, int(span_s * 1000) // buckets)
        self._slots: dict[int, _TimeSlot] = {}
        self._newest: int | None = None
        self.late = 0

    def update_many(self, labels: Sequence[int], probas: Sequence[float], times_ms: Sequence[int]) -> None:
        """Add labelled predictions with the times their labels arrived (any order)."""
        if not len(labels):
            return
        slot_of = np.asarray(times_ms, dtype=np.int64) // self.bucket_ms
        newest = int(slot_of.max())
        if self._newest is None or newest > self._newest:
            self._newest = newest
            for old in [s for s in self._slots if s <= newest - self.n_buckets]:
                del self._slots[old]
        live = slot_of > self._newest - self.n_buckets
        self.late += int((~live).sum())
        if not live.any():
            return
        y = np.asarray(labels, dtype=np.int8)[live]
        p = np.clip(np.asarray(probas, dtype=np.float64)[live], _EPS, 1 - _EPS)
        slot_of = slot_of[live]
        logit = np.clip(np.log(p) - np.log1p(-p), -self.LOGIT_LIMIT, self.LOGIT_LIMIT)
        bins = np.minimum(((logit + self.LOGIT_LIMIT) * (self.BINS / (2 * self.LOGIT_LIMIT))).astype(np.int64),
                          self.BINS - 1)
        loss = binary_log_losses(y, p)
        correct = (p >= self.threshold) == (y == 1)
        for slot in np.unique(slot_of).tolist():
            mask = slot_of == slot
            target = self._slots.get(slot)
            if target is None:
                target = self._slots[slot] = _TimeSlot(self.BINS)
            target.add(y[mask], bins[mask], loss[mask], correct[mask])

    def _totals(self) -> tuple[np.ndarray, np.ndarray, float, int]:
        positives, negatives = np.zeros(self.BINS, np.int64), np.zeros(self.BINS, np.int64)
        loss, correct = 0.0, 0
        for slot in self._slots.values():
            positives += slot.positives
            negatives += slot.negatives
            loss += slot.loss
            correct += slot.correct
        return positives, negatives, loss, correct

    def snapshot(self) -> dict[str, float | int | None]:
        """Count, positives, ROC AUC, log loss and accuracy over the window (``None`` where undefined)."""
        positives, negatives, loss, correct = self._totals()
        n_pos, n_neg = int(positives.sum()), int(negatives.sum())
        n = n_pos + n_neg
        auc = None
        if n_pos and n_neg:
            negatives_below = np.cumsum(negatives) - negatives  # negative scores in lower bins
            auc = float((positives * (negatives_below + 0.5 * negatives)).sum() / (n_pos * n_neg))
        return {"n": n, "positives": n_pos, "roc_auc": auc, "log_loss": loss / n if n else None,
                "accuracy": correct / n if n else None, "span_s": self.span_s}


class _TimeSlot:
    """One slot of a :class:`TimeWindowedBinaryMetrics`."""

    __slots__ = ("positives", "negatives", "loss", "correct")
    #: Slot names in checkpoints sealed before the histograms were renamed.
    _FORMER_NAMES = {"frauds": "positives", "legit": "negatives"}

    def __init__(self, bins: int) -> None:
        self.positives = np.zeros(bins, np.int32)
        self.negatives = np.zeros(bins, np.int32)
        self.loss = 0.0
        self.correct = 0

    def __setstate__(self, state: tuple[None, dict[str, object]] | dict[str, object]) -> None:
        # Pickled learner state (the ``shadow`` checkpoint) holds these slots: one written by an older
        # learner must still restore, not be dropped as unreadable.
        slots = state[1] if isinstance(state, tuple) else state
        for name, value in slots.items():
            setattr(self, self._FORMER_NAMES.get(name, name), value)

    def add(self, labels: np.ndarray, bins: np.ndarray, loss: np.ndarray, correct: np.ndarray) -> None:
        positive = labels == 1
        self.positives += np.bincount(bins[positive], minlength=self.positives.size).astype(np.int32)
        self.negatives += np.bincount(bins[~positive], minlength=self.negatives.size).astype(np.int32)
        self.loss += float(loss.sum())
        self.correct += int(correct.sum())
