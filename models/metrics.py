"""Offline ranking metrics in plain numpy (no scikit-learn in this project)."""

from __future__ import annotations

import numpy as np


def _as_arrays(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).ravel().astype(bool)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.size} vs {s.size}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y, s


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney rank statistic.

    Tied scores get their average rank, so a tie between a positive and a negative
    counts one half, as in the trapezoidal ROC curve.

    Args:
        labels: Binary labels (1 = positive).
        scores: Scores, higher meaning more likely positive.

    Returns:
        The AUC in [0, 1].

    Raises:
        ValueError: If only one class is present.
    """
    y, s = _as_arrays(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both classes")
    order = np.argsort(s, kind="mergesort")
    sorted_scores = s[order]
    # Average 1-based rank over each run of equal scores.
    run_start = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    run_end = np.r_[run_start[1:], s.size]
    run_rank = (run_start + 1 + run_end) / 2.0
    ranks = np.empty(s.size)
    ranks[order] = np.repeat(run_rank, run_end - run_start)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision (area under the step-wise precision-recall curve).

    AP = sum_k (R_k - R_{k-1}) * P_k over distinct score thresholds, high to low,
    with tied scores taken together (the same definition scikit-learn uses).

    Args:
        labels: Binary labels (1 = positive).
        scores: Scores, higher meaning more likely positive.

    Returns:
        AP in [0, 1].

    Raises:
        ValueError: If there are no positives.
    """
    y, s = _as_arrays(labels, scores)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("average precision needs at least one positive")
    order = np.argsort(-s, kind="mergesort")
    sorted_scores, sorted_labels = s[order], y[order]
    # Evaluate only at the last position of each run of tied scores.
    threshold_end = np.r_[np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), s.size - 1]
    true_positives = np.cumsum(sorted_labels)[threshold_end]
    precision = true_positives / (threshold_end + 1)
    recall = true_positives / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
