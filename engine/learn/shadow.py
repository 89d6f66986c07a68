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
from engine.learn.metrics import RollingBinaryMetrics, TimeWindowedBinaryMetrics
from engine.learn.settings import LearnerSpec, ShadowSettings


class ShadowModel:
    """One challenger: a River classifier and its rolling metrics.

    Args:
        spec: Name, kind and parameters.
        window: Rolling metric window (labels).
        time_windows_s: Time windows (seconds of label arrival) the metrics are also kept over.
    """

    def __init__(self, spec: LearnerSpec, window: int, time_windows_s: Sequence[float] = ()) -> None:
        self.name = spec.name
        self.spec = spec
        self.model: base.Classifier = build_learner(spec)
        self.metrics = RollingBinaryMetrics(window)
        self.timed = TimedMetrics(time_windows_s)
        self.n_learned = 0

    def predict_then_learn(self, x: dict[str, float], label: int) -> float:
        """Prequential step: the positive-class probability before learning ``(x, label)``."""
        probas = self.model.predict_proba_one(x)
        # An untrained tree answers {}; one that only saw legitimate events answers {False: 1.0}.
        proba = float(probas.get(True, 0.0 if probas else 0.5))
        proba = min(1.0, max(0.0, proba))
        self.model.learn_one(x, bool(label))
        self.metrics.update(label, proba)
        self.n_learned += 1
        return proba


class TimedMetrics:
    """One model's metrics over each configured time window, keyed ``"300s"``, ``"3600s"``...

    Args:
        spans_s: Window lengths in seconds.
        threshold: Decision threshold (accuracy).
    """

    def __init__(self, spans_s: Sequence[float], threshold: float = 0.5) -> None:
        self.windows = {f"{span:g}s": TimeWindowedBinaryMetrics(span, threshold) for span in spans_s}

    def update_many(self, labels: Sequence[int], probas: Sequence[float], times_ms: Sequence[int]) -> None:
        """Add labelled predictions with their label times."""
        for window in self.windows.values():
            window.update_many(labels, probas, times_ms)

    def snapshots(self) -> dict[str, dict[str, Any]]:
        """Window name → metrics."""
        return {name: window.snapshot() for name, window in self.windows.items()}


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
                            f"({self.positives} positives; margin {self.margin})"),
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
        self.models = [ShadowModel(spec, settings.window, settings.time_windows_s) for spec in settings.models]
        self.champion = RollingBinaryMetrics(settings.window, threshold)
        self.champion_timed = TimedMetrics(settings.time_windows_s, threshold)
        self._since_comparison = 0
        self.comparisons = 0

    def process(self, rows: Sequence[Sequence[float]], labels: Sequence[int], champion_scores: Sequence[float],
                label_times_ms: Sequence[int] | None = None) -> list[dict[str, float]]:
        """Predict-then-learn every example; per example, each challenger's score.

        ``label_times_ms`` (when each label arrived) feeds the time windows; without it they stay empty.
        """
        names = self.feature_names
        out: list[dict[str, float]] = []
        for row, label, champion_score in zip(rows, labels, champion_scores):
            x = dict(zip(names, row))
            out.append({model.name: model.predict_then_learn(x, label) for model in self.models})
            self.champion.update(label, champion_score)
        if label_times_ms is not None and out:
            self.champion_timed.update_many(labels, champion_scores, label_times_ms)
            for model in self.models:
                model.timed.update_many(labels, [scores[model.name] for scores in out], label_times_ms)
        self._since_comparison += len(out)
        return out

    def timed_snapshot(self) -> dict[str, dict[str, Any]]:
        """Window name → ``{"champion": metrics, "challengers": {name: metrics}}``."""
        champion = self.champion_timed.snapshots()
        per_model = {model.name: model.timed.snapshots() for model in self.models}
        return {name: {"champion": champion[name],
                       "challengers": {model: windows[name] for model, windows in per_model.items()}}
                for name in champion}

    def due(self) -> bool:
        """Whether enough labels arrived since the last comparison."""
        return self._since_comparison >= self.settings.compare_every

    def compare(self) -> tuple[dict[str, Any], list[Verdict]]:
        """Snapshot of every model's metrics and the challengers that beat the champion by the margin."""
        self._since_comparison = 0
        self.comparisons += 1
        snapshot = {"window": self.champion.n, "champion": self.champion.snapshot(),
                    "challengers": {model.name: model.metrics.snapshot() for model in self.models},
                    "time_windows": self.timed_snapshot()}
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
