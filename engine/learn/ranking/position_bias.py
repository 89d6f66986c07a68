"""Position bias: how much less a lower slot is looked at, and clicks re-weighted by it for other rankings.

The champion's clicks say what users clicked among what it showed, where it showed it. To judge a
challenger's ranking of the same request from them, a click must be re-weighted by how much more (or less)
likely the user was to examine the slot the challenger would use than the one the item had. The examination
propensities come from the position-based click model, P(click | item, position) = theta[position] *
gamma[item], fitted by EM on the recent impressions (Wang et al., WSDM 2018, "Position Bias Estimation for
Unbiased Learning to Rank in Personal Search", the EM without features): it separates position from relevance
as long as items are seen at several positions, even when better items are usually shown higher.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np

_EPS = 1e-6


class PositionBiasEstimator:
    """Examination propensity per position, fitted by EM on the last ``window_impressions`` impressions.

    Impressions are kept as (item code, position bucket, clicked) in chunks of 1/20 of the window in a ring,
    so the window holds between ``window_impressions`` minus a chunk and ``window_impressions`` impressions.
    Item ids map to small integer codes; codes of items no longer in the window are dropped when the map grows
    past twice the window, so memory stays bounded. Positions above ``max_position`` share the last bucket.

    Args:
        max_position: Buckets (positions 1..max_position, the last one also taking any lower slot).
        window_impressions: Impressions the estimate is made from.
    """

    CHUNKS = 20

    def __init__(self, max_position: int, window_impressions: int) -> None:
        if max_position < 1 or window_impressions < 1:
            raise ValueError(f"max_position and window_impressions must be >= 1, "
                             f"got {max_position}, {window_impressions}")
        self.max_position = max_position
        self.window_impressions = window_impressions
        self.chunk_size = max(1, window_impressions // self.CHUNKS)
        self._codes: dict[str, int] = {}
        self._chunks: deque[tuple[np.ndarray, np.ndarray, np.ndarray]] = deque()
        self._sealed = 0
        self._pending: tuple[list[int], list[int], list[bool]] = ([], [], [])

    @property
    def n_impressions(self) -> int:
        """Impressions in the window."""
        return self._sealed + len(self._pending[0])

    def update(self, item_ids: Sequence[str], positions: Sequence[int] | np.ndarray,
               clicked: Sequence[bool] | np.ndarray) -> PositionBiasEstimator:
        """Add impressions (one request's or a batch): item, 1-based position shown at, clicked or not."""
        codes = self._codes
        pending_codes, pending_buckets, pending_clicks = self._pending
        pending_codes.extend([codes.setdefault(item, len(codes)) for item in item_ids])
        buckets = np.clip(np.asarray(positions, dtype=np.int64), 1, self.max_position) - 1
        pending_buckets.extend(buckets.tolist())
        pending_clicks.extend(np.asarray(clicked, dtype=bool).tolist())
        if len(pending_codes) >= self.chunk_size:
            self._seal()
        return self

    def _seal(self) -> None:
        codes, buckets, clicks = (np.asarray(column, dtype=dtype) for column, dtype
                                  in zip(self._pending, (np.int32, np.int16, np.bool_)))
        full = codes.size - codes.size % self.chunk_size
        for start in range(0, full, self.chunk_size):
            part = slice(start, start + self.chunk_size)
            self._chunks.append((codes[part], buckets[part], clicks[part]))
            self._sealed += self.chunk_size
        self._pending = (codes[full:].tolist(), buckets[full:].tolist(), clicks[full:].tolist())
        while self._chunks and self.n_impressions > self.window_impressions:
            self._sealed -= self._chunks.popleft()[0].size
        if len(self._codes) > 2 * self.window_impressions:
            self._forget_items()

    def _forget_items(self) -> None:
        # Renumber the items still in the window 0..n-1 and drop the rest from the map.
        columns = [chunk[0] for chunk in self._chunks] + [np.asarray(self._pending[0], dtype=np.int32)]
        live, inverse = np.unique(np.concatenate(columns), return_inverse=True)
        inverse = inverse.astype(np.int32)
        renumber = {int(old): new for new, old in enumerate(live.tolist())}
        self._codes = {item: renumber[code] for item, code in self._codes.items() if code in renumber}
        bounds = np.cumsum([0] + [column.size for column in columns])
        for i, (_, buckets, clicks) in enumerate(list(self._chunks)):
            self._chunks[i] = (inverse[bounds[i]:bounds[i + 1]], buckets, clicks)
        self._pending = (inverse[bounds[-2]:].tolist(), self._pending[1], self._pending[2])

    def _cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Per (item, bucket) cell seen: dense item index, bucket, impressions, clicks."""
        pending = tuple(np.asarray(column, dtype=dtype) for column, dtype
                        in zip(self._pending, (np.int32, np.int16, np.bool_)))
        chunks = [*self._chunks, pending]
        codes = np.concatenate([chunk[0] for chunk in chunks])
        if codes.size == 0:
            return None
        buckets = np.concatenate([chunk[1] for chunk in chunks]).astype(np.int64)
        clicks = np.concatenate([chunk[2] for chunk in chunks])
        keys, cell = np.unique(codes.astype(np.int64) * self.max_position + buckets, return_inverse=True)
        impressions = np.bincount(cell).astype(np.float64)
        cell_clicks = np.bincount(cell, weights=clicks)
        # Keys are sorted by item code first, so a dense item index is a running count of code changes.
        item_code = keys // self.max_position
        item = np.concatenate(([0], np.cumsum(item_code[1:] != item_code[:-1])))
        return item, keys % self.max_position, impressions, cell_clicks

    def estimate(self, iterations: int = 50) -> np.ndarray:
        """Examination propensity per position (index 0 = position 1), relative to position 1.

        Args:
            iterations: EM iterations (from the plain per-position CTR; 50 leave the curve within ~0.01 of
                EM's fixed point on the recs stream, far inside its sampling noise).

        Returns:
            Propensities, all ones before there is a click at position 1 to compare with. A position with no
            impressions in the window takes the propensity of the nearest higher position that has some.
        """
        ones = np.ones(self.max_position)
        cells = self._cells()
        if cells is None:
            return ones
        item, bucket, impressions, clicks = cells
        n_items, n_buckets = int(item[-1]) + 1, self.max_position
        clicks_at = np.bincount(bucket, weights=clicks, minlength=n_buckets)
        shown_at = np.bincount(bucket, weights=impressions, minlength=n_buckets)
        clicks_of = np.bincount(item, weights=clicks, minlength=n_items)
        shown_of = np.bincount(item, weights=impressions, minlength=n_items)
        if clicks_at[0] == 0:
            return ones
        seen = shown_at > 0
        # Start from the plain CTR per position (right when positions are random), kept inside (0, 1): a
        # propensity of exactly 1 is a fixed point of the update and would never move.
        ctr = np.divide(clicks_at, shown_at, out=np.zeros(n_buckets), where=seen)
        theta = np.clip(0.9 * ctr / ctr.max(), _EPS, 1 - _EPS)
        expected = np.bincount(item, weights=impressions * theta[bucket], minlength=n_items)
        gamma = np.clip(clicks_of / expected, _EPS, 1 - _EPS)
        # Only impressions without a click carry a hidden variable; clicks count fully in both updates.
        skipped = impressions - clicks
        keep = skipped > 0
        item, bucket, skipped = item[keep], bucket[keep], skipped[keep]
        safe_shown_at = np.where(seen, shown_at, 1.0)
        for _ in range(iterations):
            t = theta[bucket]
            g = gamma[item]
            tg = t * g
            weight = skipped / (1.0 - tg)
            # E-step, per unclicked impression: P(examined, not relevant) = t (1 - g) / (1 - tg) and
            # P(not examined, relevant) = g (1 - t) / (1 - tg); M-step: expected counts over impressions.
            examined = np.bincount(bucket, weights=weight * (t - tg), minlength=n_buckets)
            relevant = np.bincount(item, weights=weight * (g - tg), minlength=n_items)
            theta = np.clip((clicks_at + examined) / safe_shown_at, _EPS, 1 - _EPS)
            gamma = np.clip((clicks_of + relevant) / shown_of, _EPS, 1 - _EPS)
        theta = theta / theta[0]
        for b in range(1, n_buckets):  # fill unseen positions from above
            if not seen[b]:
                theta[b] = theta[b - 1]
        return theta


def _bucket(position: int, theta: np.ndarray) -> int:
    return min(max(position, 1), theta.size) - 1


def _examination_ratio(theta: np.ndarray, to: int, shown_at: int, max_weight: float) -> float:
    """theta[to] / theta[shown_at], clipped to ``max_weight`` (and to it when the denominator is 0)."""
    below = theta[_bucket(shown_at, theta)]
    return max_weight if below <= 0 else min(max_weight, float(theta[_bucket(to, theta)] / below))


def ips_clicks_at_k(shown: dict[str, int], clicked: set[str] | frozenset[str], ranking: Sequence[str],
                    theta: np.ndarray, k: int, max_weight: float = 10.0) -> float:
    """Estimated clicks in the top-k of another ``ranking`` of a request the champion showed.

    Each clicked item that ``ranking`` puts at rank q <= k counts min(max_weight, theta[q] / theta[p]), p being
    where the champion showed it: a click moved up counts more, one moved down less. Items the champion did
    not show contribute nothing, as their clicks cannot be known, so for rankings that bring unshown items up
    this is a lower-bound style estimate. For the champion's own ranking it is its real clicks in the top-k.

    Args:
        shown: Item -> 1-based position the champion showed it at.
        clicked: Items clicked.
        ranking: The ranking judged, best first.
        theta: Examination propensity per position (from :meth:`PositionBiasEstimator.estimate`).
        k: Cut-off.
        max_weight: Largest weight one click may get (bounds the variance of rare low slots).
    """
    total = 0.0
    for rank, item in enumerate(ranking[:k], start=1):
        if item in clicked and item in shown:
            total += _examination_ratio(theta, rank, shown[item], max_weight)
    return total


def ips_dcg_at_k(shown: dict[str, int], clicked: set[str] | frozenset[str], ranking: Sequence[str],
                 theta: np.ndarray, k: int, max_weight: float = 10.0) -> float:
    """Debiased DCG@k of ``ranking``: each clicked item shown by the champion at p and ranked q <= k here
    counts min(max_weight, 1 / theta[p]) / log2(q + 1). Unshown items count nothing (see
    :func:`ips_clicks_at_k`); arguments as there.
    """
    total = 0.0
    for rank, item in enumerate(ranking[:k], start=1):
        if item in clicked and item in shown:
            propensity = float(theta[_bucket(shown[item], theta)])
            weight = max_weight if propensity <= 0 else min(max_weight, 1.0 / propensity)
            total += weight / math.log2(rank + 1.0)
    return total


def overlap_at_k(a: Sequence[str], b: Sequence[str], k: int) -> float:
    """|top-k(a) ∩ top-k(b)| / k, with k capped at the shorter list; 0 when either list is empty."""
    k = min(k, len(a), len(b))
    if k <= 0:
        return 0.0
    return len(set(a[:k]) & set(b[:k])) / k


def rank_correlation(scores_a: Sequence[float] | np.ndarray, scores_b: Sequence[float] | np.ndarray) -> float | None:
    """Kendall tau-b between two scorings of the same items; ``None`` under 2 items or for a constant one."""
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    # Tau-b over all pairs, vectorised: lists are short (k..50 items), and scipy's kendalltau costs ~2.5 ms
    # a call in overhead, which was the shadow branch's largest cost per request.
    upper = np.triu_indices(a.size, 1)
    da = np.sign(a[:, None] - a[None, :])[upper]
    db = np.sign(b[:, None] - b[None, :])[upper]
    concordance = float((da * db).sum())
    ties_a, ties_b = float(np.count_nonzero(da)), float(np.count_nonzero(db))
    if ties_a == 0 or ties_b == 0:
        return None
    return concordance / math.sqrt(ties_a * ties_b)


class ExaminationCurve:
    """The learner's current estimate of the slots' examination propensities, refitted as feedback comes.

    Used twice: the champion's click probability of an impression is its P(relevant) times the
    propensity of the slot it was shown in, and the challengers' IPS estimates re-weight clicks by it.

    Args:
        max_position: Slots estimated separately (later ones share the last).
        window_impressions: Impressions the fit uses (the most recent).
        refit_every: Judged lists between two fits (a fit costs tens of ms).
    """

    def __init__(self, max_position: int, window_impressions: int, refit_every: int = 200) -> None:
        self.estimator = PositionBiasEstimator(max_position, window_impressions)
        self.theta = np.ones(max_position)
        self.refit_every = refit_every
        self._since_fit = 0

    def observe(self, items: Sequence[str], positions: Sequence[int], clicked: Sequence[bool]) -> None:
        """One judged list's impressions."""
        self.estimator.update(items, positions, clicked)
        self._since_fit += 1
        if self._since_fit >= self.refit_every:
            self.theta = self.estimator.estimate()
            self._since_fit = 0

    def at(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """Propensity of each 1-based slot."""
        index = np.minimum(np.asarray(positions, np.int64), len(self.theta)) - 1
        return self.theta[np.maximum(index, 0)]
