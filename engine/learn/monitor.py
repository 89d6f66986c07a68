"""A named signal watched by one River detector, and the evidence it hands to an alert when it trips."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import ConfigError
from engine.learn.detectors import build_detector, detector_label, intrinsic_direction, is_binary
from engine.learn.settings import DetectorSpec


@dataclass(frozen=True, slots=True)
class DriftFinding:
    """A detector tripped on a signal, in the direction that matters.

    Attributes:
        signal: What was watched (a feature name, ``score``, ``champion_error``...).
        detector: Detector label (``adwin``, ``ddm``...).
        statistic: Mean after the change minus mean before it.
        before: Summary of the values since the previous change (``mean``, ``n``).
        after: Summary of the values the detector attributes to the new regime.
        window: Event-time range, count and first/last record positions since the previous change.
        event_time: Event time of the record that tripped the detector.
        ref: Position of that record (whatever the caller passed: an offset, an event id...).
        params: The detector's hyperparameters.
    """

    signal: str
    detector: str
    statistic: float | None
    before: dict[str, Any]
    after: dict[str, Any]
    window: dict[str, Any]
    event_time: int
    ref: Any
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line for humans."""
        def fmt(part: dict[str, Any]) -> str:
            mean = part.get("mean")
            return "n/a" if mean is None else f"{mean:.4g}"
        return (f"{self.signal}: mean {fmt(self.before)} → {fmt(self.after)} "
                f"({self.detector}, {self.window['events']} events since the last change)")


class DriftMonitor:
    """Feeds one signal to one River detector and reports changes in the configured direction.

    Summaries are kept cheaply: a running sum and count since the last change; for ADWIN the split
    into before/after comes from ADWIN's own window (``width``, ``total``), for the other detectors
    from a ring buffer of the most recent ``recent`` values. A detector that can only report one
    direction (DDM, one-sided HDDM...) is trusted; a two-sided one is filtered by comparing the means.

    Args:
        signal: Name of the watched signal.
        spec: Which detector and direction.
        recent: Ring size for the "after" summary of detectors without a window.

    Raises:
        ConfigError: If the detector can only report the opposite of the wanted direction.
    """

    def __init__(self, signal: str, spec: DetectorSpec, recent: int = 200) -> None:
        self.signal = signal
        self.spec = spec
        self.label = detector_label(spec)
        self.detector = build_detector(spec)
        self.direction = spec.direction
        intrinsic = intrinsic_direction(self.detector)
        if "both" not in (intrinsic, spec.direction) and intrinsic != spec.direction:
            raise ConfigError(f"{spec.kind} only reports an {intrinsic} of its input; direction "
                              f"{spec.direction!r} would never alert")
        self._filtered = spec.direction != "both" and intrinsic == "both"
        self._windowed = hasattr(type(self.detector), "width") and hasattr(type(self.detector), "total")
        self._recent: deque[float] = deque(maxlen=recent)
        self.n_updates = 0       # ever, survives changes: proves a restored monitor is not cold
        self.n_findings = 0
        self.n_suppressed = 0    # changes in the direction that does not alert
        self._reset_window(0, 0.0)

    def _reset_window(self, n: int, total: float) -> None:
        self._n, self._sum = n, total
        self._first_time: int | None = None
        self._first_ref: Any = None
        self._last_time: int | None = None
        self._last_ref: Any = None
        self._recent.clear()

    def update(self, value: float, event_time: int, ref: Any = None) -> DriftFinding | None:
        """Feed one value; a :class:`DriftFinding` when the detector trips in the alerting direction."""
        self.detector.update(value)
        self.n_updates += 1
        self._n += 1
        self._sum += value
        if self._first_time is None:
            self._first_time, self._first_ref = event_time, ref
        self._last_time, self._last_ref = event_time, ref
        if not self._windowed:
            self._recent.append(value)
        if not self.detector.drift_detected:
            return None
        return self._on_change(event_time, ref)

    def _on_change(self, event_time: int, ref: Any) -> DriftFinding | None:
        if self._windowed:
            after_n, after_total = int(self.detector.width), float(self.detector.total)
        else:
            after_n, after_total = len(self._recent), float(sum(self._recent))
        before_n = self._n - after_n
        before_mean = (self._sum - after_total) / before_n if before_n > 0 else None
        after_mean = after_total / after_n if after_n > 0 else None
        statistic = after_mean - before_mean if before_mean is not None and after_mean is not None else None
        window = {"from_time": self._first_time, "to_time": self._last_time, "events": self._n,
                  "first": _jsonable(self._first_ref), "last": _jsonable(self._last_ref)}
        # The detector keeps its post-change window; our running totals restart from it.
        self._reset_window(after_n if self._windowed else 0, after_total if self._windowed else 0.0)
        if self._filtered and statistic is not None and ((self.direction == "increase" and statistic <= 0)
                                                         or (self.direction == "decrease" and statistic >= 0)):
            self.n_suppressed += 1
            return None
        self.n_findings += 1
        return DriftFinding(
            signal=self.signal, detector=self.label, statistic=statistic,
            before={"mean": before_mean, "n": before_n}, after={"mean": after_mean, "n": after_n},
            window=window, event_time=int(event_time), ref=ref, params=dict(self.spec.params),
        )


def _jsonable(ref: Any) -> Any:
    return ref if ref is None or isinstance(ref, (str, int, float)) else str(ref)


class FeatureDriftBank:
    """One :class:`DriftMonitor` per watched column of the feature matrix.

    Args:
        feature_names: Column names of the matrix (``FEATURE_NAMES``).
        spec: Detector used for every column (a real-valued one).
        ignore: Columns not watched (seasonal ones).

    Raises:
        ConfigError: If the detector is binary or an ignored name is not a feature.
    """

    def __init__(self, feature_names: Sequence[str], spec: DetectorSpec, ignore: Sequence[str] = ()) -> None:
        unknown = sorted(set(ignore) - set(feature_names))
        if unknown:
            raise ConfigError(f"feature_drift.ignore: not features: {', '.join(unknown)}")
        self.columns = [(j, name) for j, name in enumerate(feature_names) if name not in set(ignore)]
        self.monitors = {name: DriftMonitor(name, spec) for _, name in self.columns}
        if self.monitors and is_binary(next(iter(self.monitors.values())).detector):
            raise ConfigError(f"feature_drift.detector: {spec.kind} takes 0/1 input; features are real-valued")
        self.rows_seen = 0

    def update(self, matrix: np.ndarray, event_times: Sequence[int], refs: Sequence[Any]) -> list[DriftFinding]:
        """Feed a [rows, features] matrix; findings in column order."""
        findings: list[DriftFinding] = []
        self.rows_seen += matrix.shape[0]
        for j, name in self.columns:
            update = self.monitors[name].update
            for value, event_time, ref in zip(matrix[:, j].tolist(), event_times, refs):
                finding = update(value, event_time, ref)
                if finding is not None:
                    findings.append(finding)
        return findings
