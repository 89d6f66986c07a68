"""Per-request ranking metrics over ragged (values + offsets) batches, vectorised.

Every request's candidates are padded into one [n_requests, longest] matrix and
sorted once; there is no Python loop per request. Ties keep candidate order (a stable
sort), so a scorer that ties everything is as good as the order it was given.
"""

from __future__ import annotations

import numpy as np


def _padded(values: np.ndarray, offsets: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    counts = np.diff(offsets)
    width = int(counts.max()) if counts.size else 0
    column = np.arange(len(values)) - np.repeat(offsets[:-1], counts)
    row = np.repeat(np.arange(len(counts)), counts)
    matrix = np.full((len(counts), max(width, 1)), fill, dtype=np.float64)
    matrix[row, column] = values
    return matrix, counts


def top_k_gains(scores: np.ndarray, labels: np.ndarray, offsets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels of each request's top-``k`` rows by score, and of its ideal top ``k``.

    Args:
        scores: Score per row (higher is better).
        labels: Gain per row (0/1 relevance, or graded).
        offsets: int64 [n_requests + 1]; request r owns rows offsets[r]:offsets[r+1].
        k: Cut-off.

    Returns:
        (ranked gains [n_requests, k], ideal gains [n_requests, k]); 0 past a short list.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=np.float64).ravel()
    if scores.shape != labels.shape or len(scores) != int(offsets[-1]):
        raise ValueError("scores, labels and offsets disagree on the number of rows")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    score_matrix, _ = _padded(scores, offsets, -np.inf)
    label_matrix, _ = _padded(labels, offsets, 0.0)
    order = np.argsort(-score_matrix, axis=1, kind="stable")[:, :k]
    ranked = np.take_along_axis(label_matrix, order, axis=1)
    ideal = -np.sort(-label_matrix, axis=1)[:, :k]
    pad = k - ranked.shape[1]
    if pad > 0:
        ranked, ideal = np.pad(ranked, ((0, 0), (0, pad))), np.pad(ideal, ((0, 0), (0, pad)))
    return ranked, ideal


def ndcg_at_k(scores: np.ndarray, labels: np.ndarray, offsets: np.ndarray, k: int = 10) -> np.ndarray:
    """NDCG@k per request (linear gains); NaN for a request without any relevant row."""
    ranked, ideal = top_k_gains(scores, labels, offsets, k)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal_dcg = ideal @ discount
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ideal_dcg > 0, (ranked @ discount) / ideal_dcg, np.nan)


def hit_rate_at_k(scores: np.ndarray, labels: np.ndarray, offsets: np.ndarray, k: int = 10) -> np.ndarray:
    """1.0 where a request has a relevant row in its top k, 0.0 where not; NaN without any relevant row."""
    ranked, ideal = top_k_gains(scores, labels, offsets, k)
    return np.where(ideal[:, 0] > 0, (ranked > 0).any(axis=1).astype(np.float64), np.nan)


def ranking_report(scores: np.ndarray, labels: np.ndarray, offsets: np.ndarray, k: int = 10) -> dict[str, float]:
    """Mean NDCG@k and HR@k over the requests that have at least one relevant row.

    A request with nothing relevant cannot be ranked well or badly, so it is left out
    of both means (and counted in ``n_requests`` minus ``n_scored``).
    """
    ndcg = ndcg_at_k(scores, labels, offsets, k)
    hits = hit_rate_at_k(scores, labels, offsets, k)
    scored = ~np.isnan(ndcg)
    return {
        f"ndcg_at_{k}": round(float(ndcg[scored].mean()), 4) if scored.any() else float("nan"),
        f"hr_at_{k}": round(float(hits[scored].mean()), 4) if scored.any() else float("nan"),
        "n_requests": int(len(ndcg)),
        "n_scored": int(scored.sum()),
    }
