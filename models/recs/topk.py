"""Top-k per request over a flattened batch of (request, candidate) scores, vectorised."""

from __future__ import annotations

import numpy as np


def top_k_per_request(scores: np.ndarray, offsets: np.ndarray, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best ``ks[r]`` rows of each request, best first.

    Request ``r`` owns rows ``offsets[r]:offsets[r+1]`` of ``scores``. The scores are scattered into a
    ``[requests, longest]`` matrix padded with -inf and sorted along rows in one call, so the cost is
    numpy's, not a Python loop over candidates. Ties keep candidate order (a stable sort), so equal
    scores rank in the order the caller listed them.

    Args:
        scores: float [R], one per row.
        offsets: int64 [N + 1], ascending, ``offsets[-1] == R``.
        ks: int [N], wanted items per request (≥ 1).

    Returns:
        ``rows``: int64 [sum(min(ks, counts))], global row indices of the kept items, request by request,
        best first; ``counts``: int64 [N], how many were kept per request (``min(ks[r], candidates)``).
    """
    counts = np.diff(offsets)
    n = counts.size
    kept = np.minimum(ks, counts).astype(np.int64)
    if n == 0 or scores.size == 0:
        return np.empty(0, np.int64), kept
    width = int(counts.max())
    starts = offsets[:-1]
    request_of_row = np.repeat(np.arange(n), counts)
    column = np.arange(scores.size) - np.repeat(starts, counts)
    padded = np.full((n, width), -np.inf, dtype=np.float64)
    padded[request_of_row, column] = scores
    want = int(kept.max())
    order = np.argsort(-padded, axis=1, kind="stable")[:, :want]  # columns, best first
    mask = np.arange(want)[None, :] < kept[:, None]
    rows = (order + starts[:, None])[mask]  # row-major mask keeps request order, then rank order
    return rows.astype(np.int64), kept
