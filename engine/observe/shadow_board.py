"""Champion vs challengers, as ``streaminfer learn`` compares them: the comparison records of the shadow topic.

Every ``shadow.compare_every`` labels the learner attaches a ``comparison`` block to one shadow record:
the rolling metrics of the champion and of every challenger over the same (paired) window — exactly the
numbers its ``challenger_wins`` rule looks at. This module reads those blocks; it recomputes nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

CHAMPION = "champion"
LOWER_IS_BETTER = frozenset({"log_loss"})


@dataclass(frozen=True, slots=True)
class ModelStanding:
    """One model's rolling metrics at one comparison."""

    roc_auc: float | None
    log_loss: float | None
    accuracy: float | None
    labels: int
    positives: int

    def metric(self, name: str) -> float | None:
        """``roc_auc``, ``log_loss`` or ``accuracy`` by name."""
        return getattr(self, name)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every model's standing at one comparison, champion first.

    Attributes:
        at: When it was received (``time.monotonic()``).
        champion: The champion's name and version, e.g. ``fraud v1``.
        models: ``"champion"`` and each challenger (in the learner's order) → standing.
    """

    at: float
    champion: str
    models: dict[str, ModelStanding]


def _standing(block: dict[str, Any]) -> ModelStanding:
    def number(key: str) -> float | None:
        value = block.get(key)
        return None if value is None else float(value)
    return ModelStanding(number("roc_auc"), number("log_loss"), number("accuracy"),
                         int(block.get("n", 0)), int(block.get("positives", 0)))


def comparison_from_shadow(value: bytes | None, at: float) -> Comparison | None:
    """The comparison carried by one shadow record; ``None`` for the (many) records without one.

    Malformed records are ``None`` too: the view shows what it can read and never stops on a bad record.
    """
    # Only one record in compare_every carries a comparison: skip the JSON parse for the others.
    if not value or b'"comparison"' not in value:
        return None
    try:
        record = orjson.loads(value)
        block = record["comparison"]
        champion = record.get("champion") or {}
        models = {CHAMPION: _standing(block["champion"])}
        models.update({name: _standing(metrics) for name, metrics in block["challengers"].items()})
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    name = f"{champion.get('name', '?')} v{champion.get('version', '?')}"
    return Comparison(at, name, models)


@dataclass
class ShadowBoard:
    """What the demo knows about champion vs challengers: comparisons so far, wins, the drift moment.

    Attributes:
        metric: The learner's comparison metric (``roc_auc`` or ``log_loss``).
        margin: How much better a challenger must be to win.
        comparisons: Comparisons in arrival order (the oldest dropped beyond ``maxlen``).
        wins: Challenger → summary of its ``challenger_wins`` alert.
        drift_at: When the generator's drift knob turned (``time.monotonic()``), ``None`` before.
    """

    metric: str = "roc_auc"
    margin: float = 0.0
    comparisons: deque[Comparison] = field(default_factory=lambda: deque(maxlen=2000))
    wins: dict[str, str] = field(default_factory=dict)
    drift_at: float | None = None

    def add(self, comparison: Comparison | None) -> None:
        """Keep a comparison (``None`` is ignored, so parse results can be passed straight in)."""
        if comparison is not None:
            self.comparisons.append(comparison)

    def add_alert(self, alert: dict[str, Any]) -> None:
        """Remember a ``challenger_wins`` alert (other kinds are ignored)."""
        if alert.get("kind") == "challenger_wins":
            self.wins.setdefault(str(alert.get("subject")), str((alert.get("evidence") or {}).get("summary", "")))

    @property
    def latest(self) -> Comparison | None:
        """The most recent comparison."""
        return self.comparisons[-1] if self.comparisons else None

    @property
    def before_drift(self) -> list[Comparison]:
        """Comparisons received before the knob turned (their windows hold only undrifted events)."""
        if self.drift_at is None:
            return []
        return [c for c in list(self.comparisons) if c.at < self.drift_at]  # a copy: the tail appends meanwhile

    def settled_before_drift(self) -> list[Comparison]:
        """Comparisons before the drift over a full window: the start, while windows fill and the
        challengers have barely learned, would drag a "before" figure down; all of them if none is full."""
        before = self.before_drift
        full = max((c.models[CHAMPION].labels for c in before if CHAMPION in c.models), default=0)
        return [c for c in before if CHAMPION in c.models and c.models[CHAMPION].labels >= full]

    def baseline(self, model: str, metric: str) -> float | None:
        """Mean of ``metric`` over :meth:`settled_before_drift`: a single window is too noisy to compare with."""
        return _mean(c.models[model].metric(metric) for c in self.settled_before_drift() if model in c.models)

    def baseline_lead(self, model: str) -> float | None:
        """Mean lead of ``model`` over :meth:`settled_before_drift`."""
        return _mean(self.lead(c, model) for c in self.settled_before_drift())

    def best_lead_after_drift(self, model: str) -> float | None:
        """The largest lead of ``model`` since the knob turned (since the start without a drift)."""
        since = self.drift_at if self.drift_at is not None else float("-inf")
        leads = [v for c in list(self.comparisons) if c.at >= since and (v := self.lead(c, model)) is not None]
        return max(leads, default=None)

    def lead(self, comparison: Comparison | None, model: str) -> float | None:
        """How much better than the champion ``model`` is on the compared metric (positive: better).

        A challenger wins when its lead reaches the margin.
        """
        if comparison is None or model not in comparison.models:
            return None
        mine, champion = comparison.models[model].metric(self.metric), comparison.models[CHAMPION].metric(self.metric)
        if mine is None or champion is None:
            return None
        return champion - mine if self.metric in LOWER_IS_BETTER else mine - champion

    def models(self) -> list[str]:
        """Model names, champion first, as the latest comparison lists them."""
        latest = self.latest
        return list(latest.models) if latest else []

    def series(self, model: str, metric: str) -> list[tuple[float, float]]:
        """(received at, value) of one model's metric over the comparisons that have it."""
        out = []
        for comparison in list(self.comparisons):  # a copy: the tail thread appends meanwhile
            standing = comparison.models.get(model)
            value = standing.metric(metric) if standing else None
            if value is not None:
                out.append((comparison.at, value))
        return out


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
