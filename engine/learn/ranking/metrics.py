"""How good a ranked list was, judged by its feedback: per-list figures, rolling and time windows, item mix.

One request's shown items (1-based positions, which may skip slots a client filtered) and their clicks give
CTR@k, NDCG@k, HR@k and the reciprocal rank (:func:`list_metrics`). :class:`RankingMetrics` keeps them over the
last ``window`` requests with running sums, :class:`TimedRankingMetrics` over the requests whose feedback came
in the last ``span_s`` seconds; both add per-impression ROC AUC and log loss of the model's click probabilities
through the per-event learner's binary metrics. :class:`CatalogMix` watches what the lists are made of: new
items, popularity, coverage of the candidates, concentration and how fast the mix moves.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence

import numpy as np

from engine.learn.metrics import RollingBinaryMetrics, TimeWindowedBinaryMetrics

# Per request: ndcg, hit, reciprocal rank (floats), clicks, impressions (ints; within k).
_Row = tuple[float, float, float, int, int]


@functools.lru_cache(maxsize=1024)
def _ideal_dcg(n: int) -> float:
    """DCG of ``n`` clicks at positions 1..n."""
    return math.fsum(1.0 / math.log2(p + 1.0) for p in range(1, n + 1))


def _as_list(values: Sequence | np.ndarray) -> list:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def list_metrics(positions: Sequence[int] | np.ndarray, clicked: Sequence[bool] | np.ndarray,
                 k: int) -> dict[str, float]:
    """CTR@k, NDCG@k, hit@k and reciprocal rank of one request's shown items.

    Args:
        positions: 1-based positions of the shown items; they need not be contiguous.
        clicked: Whether each item was clicked.
        k: Cut-off.

    Returns:
        ``ctr`` (clicks / impressions at positions <= k, 0 without impressions), ``ndcg`` (DCG of the clicks
        at positions <= k with gains 1/log2(p + 1), over the DCG of all the request's clicks put at positions
        1, 2, ... cut at k, as NDCG@k is usually defined: a click below k lowers it; 0 without clicks), ``hit``
        (1 if a click is at a position <= k), ``rr`` (1 / position of the first click, not cut at k; 0 without
        clicks), and ``clicks`` and ``impressions`` at positions <= k.
    """
    # A plain loop: lists are tens of items, where each numpy call would cost more than the whole scan.
    impressions = clicks = all_clicks = 0
    first = 0
    dcg = 0.0
    for position, click in zip(_as_list(positions), _as_list(clicked)):
        if position <= k:
            impressions += 1
        if click:
            all_clicks += 1
            if not first or position < first:
                first = position
            if position <= k:
                clicks += 1
                dcg += 1.0 / math.log2(position + 1.0)
    if not all_clicks:
        return {"ctr": 0.0, "ndcg": 0.0, "hit": 0.0, "rr": 0.0, "clicks": 0.0, "impressions": float(impressions)}
    return {"ctr": clicks / impressions if impressions else 0.0, "ndcg": dcg / _ideal_dcg(min(all_clicks, k)),
            "hit": 1.0 if clicks else 0.0, "rr": 1.0 / first, "clicks": float(clicks),
            "impressions": float(impressions)}


def _within_k(positions: Sequence[int] | np.ndarray, clicked: Sequence[bool] | np.ndarray,
              probas: Sequence[float] | np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """Labels and probabilities of the impressions at positions <= k (those the AUC and log loss judge)."""
    labels, kept = [], []
    for position, click, proba in zip(_as_list(positions), _as_list(clicked), _as_list(probas)):
        if position <= k:
            labels.append(1 if click else 0)
            kept.append(float(proba))
    return labels, kept


def _figures(k: int, sums: Sequence[float], requests: int) -> dict[str, float | int | None]:
    """Window figures from summed per-request rows (CTR pooled over impressions, the rest means per request)."""
    ndcg, hit, rr, clicks, impressions = sums
    return {f"ctr@{k}": clicks / impressions if impressions else None,
            f"ndcg@{k}": ndcg / requests if requests else None,
            f"hr@{k}": hit / requests if requests else None,
            "mrr": rr / requests if requests else None,
            "requests": requests, "impressions": int(impressions), "clicks": int(clicks)}


def _row(figures: dict[str, float]) -> _Row:
    return (figures["ndcg"], figures["hit"], figures["rr"], int(figures["clicks"]), int(figures["impressions"]))


class RankingMetrics:
    """CTR@k, NDCG@k, HR@k, MRR, ROC AUC and log loss over the last ``window`` requests.

    CTR@k is pooled (clicks / impressions over the window); NDCG, HR and MRR are means over requests. ROC AUC
    and log loss judge the model's click probability per impression at positions <= k, over the last
    ``window * k`` such impressions. Updates are O(1) amortised (running sums over a bounded deque, re-summed
    once per ``window`` updates so float error cannot build up) and the object pickles as it is.

    Args:
        k: Cut-off.
        window: Requests kept.
    """

    def __init__(self, k: int, window: int) -> None:
        if k < 1 or window < 1:
            raise ValueError(f"k and window must be >= 1, got {k}, {window}")
        self.k = k
        self.window = window
        self._rows: deque[_Row] = deque()
        self._sums = [0.0, 0.0, 0.0, 0, 0]
        self._since_resum = 0
        self._binary = RollingBinaryMetrics(window * k)

    def update(self, positions: Sequence[int] | np.ndarray, clicked: Sequence[bool] | np.ndarray,
               probas: Sequence[float] | np.ndarray) -> dict[str, float]:
        """Add one request's shown items, clicks and the model's click probabilities.

        Returns:
            The request's own :func:`list_metrics` (a per-request CTR for a drift detector, say).
        """
        figures = list_metrics(positions, clicked, self.k)
        row = _row(figures)
        if len(self._rows) == self.window:
            old = self._rows.popleft()
            for i in range(5):
                self._sums[i] -= old[i]
        self._rows.append(row)
        for i in range(5):
            self._sums[i] += row[i]
        self._since_resum += 1
        if self._since_resum >= self.window:
            self._sums = [sum(column) for column in zip(*self._rows)]
            self._since_resum = 0
        self._binary.update_many(*_within_k(positions, clicked, probas, self.k))
        return figures

    def snapshot(self) -> dict[str, float | int | None]:
        """All figures over the window (``None`` where undefined)."""
        out = _figures(self.k, self._sums, len(self._rows))
        out["roc_auc"] = self._binary.roc_auc()
        out["log_loss"] = self._binary.log_loss()
        return out


class TimedRankingMetrics:
    """The figures of :class:`RankingMetrics` over the requests whose feedback came in the last ``span_s`` s.

    The clock is the caller's (feedback time, ms) and "last" means before the newest time seen, as in
    :class:`~engine.learn.metrics.TimeWindowedBinaryMetrics`, whose slots this shares: the span is cut into
    ``slots`` slots of per-request sums, so memory is bounded whatever the rate. A request older than the
    window when it arrives is counted in ``late``. Impressions for the AUC are buffered and handed over in
    batches (the binary metrics cost tens of microseconds a call); a batch gives the same window as single
    calls, because whatever it drops as late would have left the window by the end of the batch anyway.

    Args:
        k: Cut-off.
        span_s: Window length in seconds.
        slots: Slots the span is cut into (the window moves a slot at a time).
    """

    FLUSH_IMPRESSIONS = 4096

    def __init__(self, k: int, span_s: float, slots: int = 30) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k
        self.span_s = span_s
        self._binary = TimeWindowedBinaryMetrics(span_s, buckets=slots)
        self.n_slots = slots
        self.slot_ms = self._binary.bucket_ms
        self._slots: dict[int, list[float]] = {}  # slot -> [ndcg, hit, rr, clicks, impressions, requests]
        self._newest: int | None = None
        self._pending: tuple[list[int], list[float], list[int]] = ([], [], [])
        self.late = 0

    def update(self, positions: Sequence[int] | np.ndarray, clicked: Sequence[bool] | np.ndarray,
               probas: Sequence[float] | np.ndarray, time_ms: int) -> dict[str, float]:
        """Add one request, timed by its feedback (ms); returns its own :func:`list_metrics`."""
        figures = list_metrics(positions, clicked, self.k)
        slot = int(time_ms) // self.slot_ms
        if self._newest is None or slot > self._newest:
            self._newest = slot
            for old in [s for s in self._slots if s <= slot - self.n_slots]:
                del self._slots[old]
        if slot <= self._newest - self.n_slots:
            self.late += 1
            return figures
        sums = self._slots.get(slot)
        if sums is None:
            sums = self._slots[slot] = [0.0, 0.0, 0.0, 0, 0, 0]
        for i, value in enumerate(_row(figures)):
            sums[i] += value
        sums[5] += 1
        labels, probas = _within_k(positions, clicked, probas, self.k)
        pending_labels, pending_probas, pending_times = self._pending
        pending_labels.extend(labels)
        pending_probas.extend(probas)
        pending_times.extend([int(time_ms)] * len(labels))
        if len(pending_labels) >= self.FLUSH_IMPRESSIONS:
            self._flush()
        return figures

    def _flush(self) -> None:
        labels, probas, times = self._pending
        if labels:
            self._binary.update_many(labels, probas, times)
            self._pending = ([], [], [])

    def snapshot(self) -> dict[str, float | int | None]:
        """All figures over the window (``None`` where undefined), with ``span_s`` and ``late``."""
        self._flush()
        totals = [0.0] * 6
        for sums in self._slots.values():
            for i in range(6):
                totals[i] += sums[i]
        out = _figures(self.k, totals[:5], int(totals[5]))
        binary = self._binary.snapshot()
        out.update(roc_auc=binary["roc_auc"], log_loss=binary["log_loss"], span_s=self.span_s, late=self.late)
        return out


def _decrement(counts: dict[str, int], items: Iterable[str]) -> None:
    for item in items:
        left = counts[item] - 1
        if left:
            counts[item] = left
        else:
            del counts[item]


def _increment(counts: dict[str, int], items: Iterable[str]) -> None:
    for item in items:
        counts[item] = counts.get(item, 0) + 1


def gini(values: np.ndarray) -> float | None:
    """Gini coefficient of non-negative values (0: all equal; towards 1: one takes all); ``None`` if empty."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = x.size, x.sum()
    if n == 0 or total == 0:
        return None
    return float(2.0 * (np.arange(1, n + 1) * x).sum() / (n * total) - (n + 1) / n)


def jensen_shannon(p: dict[str, int], q: dict[str, int]) -> float:
    """Jensen–Shannon divergence (base 2, in [0, 1]) between two count distributions over items."""
    keys = list(p.keys() | q.keys())
    a = np.array([p.get(key, 0) for key in keys], dtype=np.float64)
    b = np.array([q.get(key, 0) for key in keys], dtype=np.float64)
    a, b = a / a.sum(), b / b.sum()
    m = 0.5 * (a + b)

    def kl(x: np.ndarray) -> float:
        nz = x > 0  # 0 log 0 = 0; m > 0 wherever x > 0
        return float((x[nz] * np.log2(x[nz] / m[nz])).sum())

    return min(1.0, max(0.0, 0.5 * kl(a) + 0.5 * kl(b)))


class CatalogMix:
    """What the shown lists are made of: new items, popularity, coverage, concentration, how the mix moves.

    Per item (at most ``max_items``, the least recently seen forgotten first; a forgotten item that comes
    back is new again) it keeps the first time it was seen, offered or shown, its long-run impressions and
    the last :meth:`observe_candidates` call that offered it. The window figures are over the last ``window``
    :meth:`observe_shown` calls (and, for coverage, the last ``window`` :meth:`observe_candidates` calls). Per
    request the cost is a few dict operations per item; ranks and candidate counts wait for :meth:`snapshot`.

    Args:
        window: Requests in the window.
        new_item_age_ms: An item first seen less than this long before a request is new in it.
        max_items: Items remembered.
    """

    def __init__(self, window: int, new_item_age_ms: float, max_items: int) -> None:
        if window < 1 or max_items < 1 or new_item_age_ms <= 0:
            raise ValueError("window and max_items must be >= 1 and new_item_age_ms > 0")
        self.window = window
        self.new_item_age_ms = new_item_age_ms
        self.max_items = max_items
        # item -> [first seen ms, impressions, number of the last candidates call that offered it (0: none)]
        self._items: OrderedDict[str, list[int]] = OrderedDict()
        self._offers = 0  # observe_candidates calls so far
        self._shown: deque[tuple[tuple[str, ...], int]] = deque()  # per request: items, how many were new
        self._shown_counts: dict[str, int] = {}
        self._new_impressions = 0
        self._shown_impressions = 0
        self._previous: deque[tuple[str, ...]] = deque()  # the window before the current one
        self._previous_counts: dict[str, int] = {}
        self._started: int | None = None  # first observation: before it + the age, nothing can be called new

    def _warming_up(self, time_ms: int) -> bool:
        # A learner that just started has seen no item before: everything would look new and the share
        # would fall for an hour. Items first met in that first age window existed already: not new.
        if self._started is None:
            self._started = time_ms
        return time_ms - self._started < self.new_item_age_ms

    def _record(self, item: str, time_ms: int) -> list[int]:
        items = self._items
        record = items.get(item)
        if record is None:
            first = time_ms - int(self.new_item_age_ms) if self._warming_up(time_ms) else time_ms
            record = items[item] = [first, 0, 0]
            if len(items) > self.max_items:
                items.popitem(last=False)
        else:
            items.move_to_end(item)
        return record

    def observe_candidates(self, item_ids: Sequence[str], time_ms: int) -> None:
        """Record the items a request offered (when the learner knows them)."""
        self._offers += 1
        for item in item_ids:
            self._record(item, time_ms)[2] = self._offers

    def request_features(self, item_ids: Sequence[str], time_ms: int) -> dict[str, float]:
        """``new_item_share`` and ``mean_log_popularity`` (mean log1p of impressions) of a request's shown items.

        Read-only: call it before :meth:`observe_shown` of the same request, so popularity is that before the
        request. An item not seen before counts as new (first seen now) with no impressions — except during the
        first ``new_item_age_ms`` after the first observation, when every item is taken to exist already.
        """
        if not item_ids:
            return {"new_item_share": 0.0, "mean_log_popularity": 0.0}
        new, log_popularity = 0, 0.0
        for item in item_ids:
            record = self._items.get(item)
            if record is None:
                new += not self._warming_up(time_ms)
            else:
                new += time_ms - record[0] < self.new_item_age_ms
                log_popularity += math.log1p(record[1])
        return {"new_item_share": new / len(item_ids), "mean_log_popularity": log_popularity / len(item_ids)}

    def observe_shown(self, item_ids: Sequence[str], time_ms: int) -> None:
        """Record the top-k a request showed."""
        items = tuple(item_ids)
        new = 0
        for item in items:
            record = self._record(item, time_ms)
            new += time_ms - record[0] < self.new_item_age_ms
            record[1] += 1
        if len(self._shown) == self.window:
            old, old_new = self._shown.popleft()
            _decrement(self._shown_counts, old)
            self._new_impressions -= old_new
            self._shown_impressions -= len(old)
            if len(self._previous) == self.window:
                _decrement(self._previous_counts, self._previous.popleft())
            self._previous.append(old)
            _increment(self._previous_counts, old)
        self._shown.append((items, new))
        _increment(self._shown_counts, items)
        self._new_impressions += new
        self._shown_impressions += len(items)

    def _coverage(self) -> float | None:
        oldest = self._offers - self.window  # offers after this one are in the window
        offered = sum(1 for record in self._items.values() if record[2] > oldest)
        return len(self._shown_counts) / offered if offered else None

    def _mean_popularity_rank(self) -> float | None:
        # Rank of each shown item among all tracked ones by long-run impressions (1 = most; ties share the
        # mean of their ranks), divided by the number tracked; weighted by the item's window impressions.
        tracked = np.sort(np.fromiter((record[1] for record in self._items.values()), np.int64, len(self._items)))
        items = [item for item in self._shown_counts if item in self._items]
        if not items:
            return None
        counts = np.array([self._items[item][1] for item in items], dtype=np.int64)
        weights = np.array([self._shown_counts[item] for item in items], dtype=np.float64)
        above = tracked.size - np.searchsorted(tracked, counts, side="right")
        tied = np.searchsorted(tracked, counts, side="right") - np.searchsorted(tracked, counts, side="left")
        rank = above + (tied + 1) / 2.0
        return float((rank * weights).sum() / weights.sum() / tracked.size)

    def snapshot(self) -> dict[str, float | int | None]:
        """Window figures (``None`` where undefined).

        - ``coverage``: distinct items shown in the window / distinct items offered in the last ``window``
          candidate observations (``None`` without any); at most 1 when the candidates of every shown request
          are observed. Offered items since forgotten (``max_items``) are not counted.
        - ``distinct_shown``, ``requests``, ``impressions``: of the shown window; ``tracked_items``.
        - ``gini``: Gini coefficient of the window's impressions per item, over the items it showed.
        - ``mean_popularity_rank``: mean over the window's impressions of the item's rank by long-run
          impressions among the tracked items (1 = most popular, ties averaged), divided by the number of
          tracked items: in (0, 1], small when the lists show the head, near 1 for the tail. Items forgotten
          since they were shown are left out.
        - ``new_item_share``: share of the window's impressions whose item was new when shown.
        - ``item_mix_divergence``: Jensen–Shannon divergence (base 2, 0 = same mix, 1 = disjoint) between the
          items' shares of impressions in this window and in the ``window`` requests before it; ``None`` until
          that earlier window is full.
        """
        impressions = self._shown_impressions
        full_previous = len(self._previous) == self.window and self._shown_counts and self._previous_counts
        return {
            "requests": len(self._shown), "impressions": impressions, "distinct_shown": len(self._shown_counts),
            "tracked_items": len(self._items), "coverage": self._coverage(),
            "gini": gini(np.fromiter(self._shown_counts.values(), np.int64, len(self._shown_counts))),
            "mean_popularity_rank": self._mean_popularity_rank(),
            "new_item_share": self._new_impressions / impressions if impressions else None,
            "item_mix_divergence": (jensen_shannon(self._shown_counts, self._previous_counts)
                                    if full_previous else None),
        }
