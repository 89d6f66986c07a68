"""Challengers learned online from joined labels, and their comparison with the champion.

Prequential: every challenger first predicts the example, then learns it, so its rolling metrics are
honest out-of-sample figures. The champion's metrics here are computed on exactly the same examples
(those whose features were sampled), so the comparison is paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from river import base

from engine.learn.learners import build_learner
from engine.learn.metrics import RollingBinaryMetrics
from engine.learn.settings import LearnerSpec, ShadowSettings


class ShadowModel:
    """One challenger: a River classifier and its rolling metrics.

    Args:
        spec: Name, kind and parameters.
        window: Rolling metric window (labels).
    """

    def __init__(self, spec: LearnerSpec, window: int) -> None:
        self.name = spec.name
        self.spec = spec
        self.model: base.Classifier = build_learner(spec)
        self.metrics = RollingBinaryMetrics(window)
        self.n_learned = 0

    def predict_then_learn(self, x: dict[str, float], label: int) -> float:
        """Prequential step: the fraud probability before learning ``(x, label)``."""
        probas = self.model.predict_proba_one(x)
        # An untrained tree answers {}; one that only saw legitimate events answers {False: 1.0}.
        proba = float(probas.get(True, 0.0 if probas else 0.5))
        proba = min(1.0, max(0.0, proba))
        self.model.learn_one(x, bool(label))
        self.metrics.update(label, proba)
        self.n_learned += 1
        return proba


@dataclass(frozen=True, slots=True)
class Verdict:
    """A challenger beat the champion on the paired window."""

    challenger: str
    metric: str
    champion_value: float
    challenger_value: float
    margin: float
    window: int
    positives: int

    def evidence(self) -> dict[str, Any]:
        """Evidence block of a ``challenger_wins`` alert."""
        return {"detector": "paired_window", "statistic": self.challenger_value - self.champion_value,
                "threshold": self.margin,
                "summary": (f"{self.challenger} {self.metric} {self.challenger_value:.4f} vs champion "
                            f"{self.champion_value:.4f} over the last {self.window} labels "
                            f"({self.positives} frauds; margin {self.margin})"),
                "window": {"labels": self.window, "positives": self.positives},
                "before": {"champion": self.champion_value}, "after": {self.challenger: self.challenger_value}}


class ShadowModels:
    """The configured challengers plus the champion's paired metrics, and the comparison rule.

    Args:
        settings: Shadow settings (models, window, comparison rule).
        feature_names: Names of the feature columns (dict keys for River).
        threshold: Champion decision threshold (for accuracy).
    """

    def __init__(self, settings: ShadowSettings, feature_names: Sequence[str], threshold: float = 0.5) -> None:
        self.settings = settings
        self.feature_names = tuple(feature_names)
        self.models = [ShadowModel(spec, settings.window) for spec in settings.models]
        self.champion = RollingBinaryMetrics(settings.window, threshold)
        self._since_comparison = 0
        self.comparisons = 0

    def process(self, rows: Sequence[Sequence[float]], labels: Sequence[int],
                champion_scores: Sequence[float]) -> list[dict[str, float]]:
        """Predict-then-learn every example; per example, each challenger's score."""
        names = self.feature_names
        out: list[dict[str, float]] = []
        for row, label, champion_score in zip(rows, labels, champion_scores):
            x = dict(zip(names, row))
            out.append({model.name: model.predict_then_learn(x, label) for model in self.models})
            self.champion.update(label, champion_score)
        self._since_comparison += len(out)
        return out

    def due(self) -> bool:
        """Whether enough labels arrived since the last comparison."""
        return self._since_comparison >= self.settings.compare_every

    def compare(self) -> tuple[dict[str, Any], list[Verdict]]:
        """Snapshot of every model's metrics and the challengers that beat the champion by the margin."""
        self._since_comparison = 0
        self.comparisons += 1
        snapshot = {"window": self.champion.n, "champion": self.champion.snapshot(),
                    "challengers": {model.name: model.metrics.snapshot() for model in self.models}}
        settings = self.settings
        if self.champion.n < settings.min_labels or self.champion.positives < settings.min_positives:
            return snapshot, []
        verdicts = []
        champion_value = _metric(self.champion, settings.metric)
        for model in self.models:
            value = _metric(model.metrics, settings.metric)
            if champion_value is None or value is None:
                continue
            better = value - champion_value if settings.metric == "roc_auc" else champion_value - value
            if better >= settings.margin:
                verdicts.append(Verdict(model.name, settings.metric, champion_value, value, settings.margin,
                                        self.champion.n, self.champion.positives))
        return snapshot, verdicts


def _metric(metrics: RollingBinaryMetrics, name: str) -> float | None:
    return metrics.roc_auc() if name == "roc_auc" else metrics.log_loss()
