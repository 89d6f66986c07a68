"""Challenger rankers re-ranking the champion's candidate lists in shadow, and how they are compared.

Feedback exists only for the items the champion showed, where it showed them. So a challenger's list
cannot be scored directly; the comparison uses what the feedback can support:

- **position-debiased estimates** (inverse propensity weighting under the position-based click model,
  propensities estimated from the feedback): ``ips_ctr`` — expected clicks in the challenger's top-k, each
  observed click re-weighted by theta[new slot] / theta[shown slot] — and ``ips_dcg``. Items the champion
  never showed count as no click: a challenger that surfaces unshown items is under-estimated, never
  over-estimated by them;
- **label-free agreement** with the champion: overlap@k of the two top-k lists, Kendall's tau of the two
  models' scores over the shown items;
- **prequential per-impression** ROC AUC and log loss of each challenger's click probability on the shown
  items (predicted before it learns them).

Every figure is paired: the champion's is computed on exactly the requests the challengers saw.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.learn.metrics import RollingBinaryMetrics
from engine.learn.ranking.join import JoinedList
from engine.learn.ranking.learners import ShadowRanker, build_ranker
from engine.learn.ranking.position_bias import (
    ips_clicks_at_k,
    ips_dcg_at_k,
    overlap_at_k,
    rank_correlation,
)
from engine.learn.ranking.settings import RankingShadowSettings



class RollingMean:
    """Mean of the last ``window`` values (``None`` values are skipped), O(1) per update."""

    def __init__(self, window: int) -> None:
        self._values: deque[float] = deque(maxlen=window)
        self._sum = 0.0

    def update(self, value: float | None) -> None:
        """Add one value."""
        if value is None:
            return
        if len(self._values) == self._values.maxlen:
            self._sum -= self._values[0]
        self._values.append(float(value))
        self._sum += float(value)

    @property
    def n(self) -> int:
        """Values in the window."""
        return len(self._values)

    @property
    def mean(self) -> float | None:
        """The window's mean; None while empty."""
        return self._sum / len(self._values) if self._values else None

    @property
    def total(self) -> float:
        """The window's sum."""
        return self._sum


class ShadowStanding:
    """One model's paired figures over the rolling window of requests."""

    def __init__(self, window: int, impressions_window: int) -> None:
        self.ips_ctr = RollingMean(window)
        self.ips_dcg = RollingMean(window)
        self.coverage = RollingMean(window)  # examination mass of the top-k that fell on shown items
        self.overlap = RollingMean(window)
        self.rank_corr = RollingMean(window)
        self.impressions = RollingBinaryMetrics(impressions_window)
        self.requests = 0

    def snapshot(self, k: int) -> dict[str, Any]:
        """Figures now."""
        coverage = self.coverage.mean
        adjusted = self.ips_ctr.mean / coverage if self.ips_ctr.mean is not None and coverage else None
        return {f"ips_ctr@{k}": self.ips_ctr.mean, f"ips_ctr_adj@{k}": adjusted, f"shown_coverage@{k}": coverage,
                f"ips_dcg@{k}": self.ips_dcg.mean,
                f"overlap@{k}": self.overlap.mean, "rank_corr": self.rank_corr.mean,
                "roc_auc": self.impressions.roc_auc(), "log_loss": self.impressions.log_loss(),
                "requests": self.ips_ctr.n, "learned": self.requests}


@dataclass(frozen=True, slots=True)
class RankingVerdict:
    """A challenger beat the champion on a debiased ranking metric over the paired window."""

    challenger: str
    metric: str
    champion_value: float
    challenger_value: float
    margin: float
    requests: int
    clicks: int

    def evidence(self) -> dict[str, Any]:
        """Evidence block of a ``challenger_wins`` alert."""
        lift = self.challenger_value / self.champion_value - 1 if self.champion_value > 0 else None
        return {"detector": "paired_window_ips", "statistic": lift, "threshold": self.margin,
                "summary": (f"{self.challenger} {self.metric} {self.challenger_value:.4f} vs champion "
                            f"{self.champion_value:.4f} (+{(lift or 0) * 100:.1f} %) over the last {self.requests} "
                            f"requests ({self.clicks} clicks; relative margin {self.margin}); position-debiased, "
                            f"from the champion's impressions only"),
                "window": {"requests": self.requests, "clicks": self.clicks},
                "before": {"champion": self.champion_value}, "after": {self.challenger: self.challenger_value}}


class ShadowRankers:
    """The configured challengers, the champion's paired figures, the position curve and the comparison.

    Args:
        settings: Shadow settings.
        k: Cut-off of the top-k lists compared.
        window: Requests in the rolling comparison window.
    """

    def __init__(self, settings: RankingShadowSettings, k: int, window: int = 5000) -> None:
        self.settings = settings
        self.k = k
        self.models: list[ShadowRanker] = [build_ranker(s.name, s.kind, s.params) for s in settings.models]
        self.standings = {m.name: ShadowStanding(window, window * k) for m in self.models}
        self.champion = ShadowStanding(window, window * k)
        self.clicks = RollingMean(window)
        self.theta = np.ones(2)  # the learner's examination curve, as of the last list processed
        self._since_comparison = 0
        self.comparisons = 0

    def process(self, joined: JoinedList, champion_probas: np.ndarray, theta: np.ndarray) -> dict[str, dict[str, Any]]:
        """Score the request's candidates with every challenger, judge them against the champion on the
        same request (``theta``: the slots' examination propensities), then learn its feedback. Returns
        per model its figures for this request."""
        self.theta = theta
        request = joined.request or {}
        user = str(request.get("user", ""))
        context = request.get("categorical") or {}
        champion_ranking = joined.ranked.items
        candidates = list(dict.fromkeys([*request.get("candidates", ())[: self.settings.max_candidates],
                                         *champion_ranking]))
        items = list(joined.shown)
        positions = [joined.shown[i][0] for i in items]
        clicked_flags = [joined.shown[i][1] for i in items]
        shown = {i: joined.shown[i][0] for i in items}
        clicked = frozenset(i for i in items if joined.shown[i][1])
        k, theta = self.k, self.theta
        champion_scores = dict(zip(joined.ranked.items, joined.ranked.scores))
        out: dict[str, dict[str, Any]] = {}

        champ = {"ips_ctr": ips_clicks_at_k(shown, clicked, champion_ranking, theta, k),
                 "ips_dcg": ips_dcg_at_k(shown, clicked, champion_ranking, theta, k),
                 "coverage": self._coverage(champion_ranking, shown)}
        self._record(self.champion, champ, 1.0, 1.0, clicked_flags, champion_probas)
        self.clicks.update(float(sum(1 for i in clicked if shown[i] <= k)))
        out["champion"] = champ
        for model in self.models:
            scores = model.scores(user, candidates, context)
            order = np.argsort(-scores, kind="stable")
            ranking = [candidates[j] for j in order]
            by_item = dict(zip(candidates, scores.tolist()))
            figures = {"ips_ctr": ips_clicks_at_k(shown, clicked, ranking, theta, k),
                       "ips_dcg": ips_dcg_at_k(shown, clicked, ranking, theta, k),
                       "coverage": self._coverage(ranking, shown)}
            overlap = overlap_at_k(ranking, champion_ranking, k)
            common = [i for i in champion_ranking if i in by_item]
            corr = rank_correlation([champion_scores[i] for i in common], [by_item[i] for i in common])
            probas = model.click_probabilities(user, items, context, positions, theta)
            self._record(self.standings[model.name], figures, overlap, corr, clicked_flags, probas)
            model.learn(user, items, context, positions, clicked_flags, theta)
            out[model.name] = {**figures, "overlap": overlap, "rank_corr": corr}
        self._since_comparison += 1
        return out

    def _coverage(self, ranking: Sequence[str], shown: dict[str, int]) -> float:
        """Share of the top-k's examination mass (by the estimated curve) on items the champion showed:
        the part of a list the feedback can say anything about."""
        top = ranking[: self.k]
        weights = self.theta[np.minimum(np.arange(len(top)), len(self.theta) - 1)]
        total = float(weights.sum())
        return float(sum(w for w, item in zip(weights.tolist(), top) if item in shown)) / total if total else 0.0

    @staticmethod
    def _record(standing: ShadowStanding, figures: dict[str, float], overlap: float, corr: float | None,
                clicked: Sequence[bool], probas: np.ndarray) -> None:
        standing.ips_ctr.update(figures["ips_ctr"])
        standing.coverage.update(figures["coverage"])
        standing.ips_dcg.update(figures["ips_dcg"])
        standing.overlap.update(overlap)
        standing.rank_corr.update(corr)
        standing.impressions.update_many([int(c) for c in clicked], np.clip(probas, 0.0, 1.0).tolist())
        standing.requests += 1

    def due(self) -> bool:
        """Whether enough requests were judged since the last comparison."""
        return self._since_comparison >= self.settings.compare_every

    def snapshot(self) -> dict[str, Any]:
        """Every model's figures, the champion's included, and the examination curve they were judged with."""
        k = self.k
        return {"requests": self.champion.ips_ctr.n, "clicks": int(self.clicks.total),
                "champion": self.champion.snapshot(k),
                "challengers": {m.name: self.standings[m.name].snapshot(k) for m in self.models},
                "position_curve": [round(float(t), 4) for t in self.theta[:10]]}

    def compare(self) -> tuple[dict[str, Any], list[RankingVerdict]]:
        """Snapshot, and the challengers whose debiased metric beats the champion's by the relative margin."""
        self._since_comparison = 0
        self.comparisons += 1
        snapshot = self.snapshot()
        s = self.settings
        requests, clicks = self.champion.ips_ctr.n, int(self.clicks.total)
        if requests < s.min_requests or clicks < s.min_clicks:
            return snapshot, []
        name = f"{s.metric}@{self.k}"
        champion_value = snapshot["champion"][name]
        verdicts = []
        for model in self.models:
            value = snapshot["challengers"][model.name][name]
            if champion_value is None or value is None or champion_value <= 0:
                continue
            if value >= (1 + s.margin) * champion_value:
                verdicts.append(RankingVerdict(model.name, name, champion_value, value, s.margin, requests, clicks))
        return snapshot, verdicts
