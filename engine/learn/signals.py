"""The configured detectors of one pipeline, grouped by the signal they watch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.learn.confirm import ChangeConfirmer
from engine.learn.monitor import DriftMonitor, FeatureDriftBank
from engine.learn.settings import LearnSettings

#: Signal names, as they appear in alerts (subject / evidence.signal).
PREDICTION_SIGNAL = "score"
ERROR_SIGNAL = "error_rate"
LOSS_SIGNAL = "log_loss"


@dataclass
class DetectorSet:
    """Feature drift (per feature), prediction drift (scores), concept drift (champion error and loss).

    A group is ``None`` when disabled in the settings. ``confirmers`` hold, per concept signal, the
    change on probation before it pages (empty when ``concept_drift.confirm_labels`` is 0).
    """

    features: FeatureDriftBank | None
    prediction: DriftMonitor | None
    concept_error: DriftMonitor | None
    concept_loss: DriftMonitor | None
    confirmers: dict[str, ChangeConfirmer] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: LearnSettings, feature_names: Sequence[str]) -> DetectorSet:
        """Fresh detectors for ``settings``."""
        feature, prediction, concept = settings.feature_drift, settings.prediction_drift, settings.concept_drift
        return cls(
            features=FeatureDriftBank(feature_names, feature.detector, feature.ignore) if feature.enabled else None,
            prediction=DriftMonitor(PREDICTION_SIGNAL, prediction.detector) if prediction.enabled else None,
            concept_error=DriftMonitor(ERROR_SIGNAL, concept.error_detector) if concept.enabled else None,
            concept_loss=DriftMonitor(LOSS_SIGNAL, concept.loss_detector) if concept.enabled else None,
            confirmers={signal: ChangeConfirmer(concept.confirm_labels, concept.confirm_ratio)
                        for signal in (ERROR_SIGNAL, LOSS_SIGNAL)}
            if concept.enabled and concept.confirm_labels else {},
        )

    def monitors(self) -> list[DriftMonitor]:
        """Every monitor, feature monitors included."""
        out = list(self.features.monitors.values()) if self.features is not None else []
        return out + [m for m in (self.prediction, self.concept_error, self.concept_loss) if m is not None]

    def update_counts(self) -> dict[str, int]:
        """Values fed per group since the detectors were first built (restores included)."""
        counts = {}
        if self.features is not None:
            counts["features"] = sum(m.n_updates for m in self.features.monitors.values())
        if self.prediction is not None:
            counts["prediction"] = self.prediction.n_updates
        concept = [m for m in (self.concept_error, self.concept_loss) if m is not None]
        if concept:
            counts["concept"] = sum(m.n_updates for m in concept)
        return counts
