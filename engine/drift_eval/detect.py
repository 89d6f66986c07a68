"""The learner's detector and alert logic applied to evaluation signals — with or without Kafka around it.

:class:`SignalDetectors` is fed (stream, index, value) triples: from a Kafka consumer in the Kafka run,
from the in-memory arrays in the direct River run. Both use the same :class:`DriftMonitor` and the same
:class:`AlertManager` / :class:`AlertGate` as ``streaminfer learn``; the event index is the alert clock,
so the cooldown is counted in events and both runs are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.alerts.manager import AlertBuilder, AlertManager, AlertPublisher
from engine.alerts.gate import AlertGate
from engine.learn.monitor import DriftMonitor
from engine.learn.settings import DetectorSpec

EVAL_PIPELINE = "drift-eval"


def detector_name(spec: DetectorSpec) -> str:
    """Unique label of a detector configuration, e.g. ``adwin(delta=0.0001)``."""
    params = ",".join(f"{key}={value}" for key, value in sorted(spec.params.items()))
    return f"{spec.kind.lower()}({params})"


def make_alert_manager(cooldown_events: int, publisher: AlertPublisher | None) -> AlertManager:
    """The alert path of an evaluation run (publisher ``None``: alerts only recorded in ``.sent``)."""
    return AlertManager(AlertBuilder(EVAL_PIPELINE, "online_model", "river"), AlertGate(cooldown_events),
                        publisher, severity={"concept_drift": "warning"}, keep_sent=True)


class SignalDetectors:
    """One :class:`DriftMonitor` per (stream, detector), alerting through one :class:`AlertManager`.

    Args:
        detectors: Detector configurations under evaluation.
        alerts: Where findings go.
    """

    def __init__(self, detectors: Sequence[DetectorSpec], alerts: AlertManager) -> None:
        self.detectors = [(detector_name(spec), spec) for spec in detectors]
        self.alerts = alerts
        self._monitors: dict[str, list[tuple[str, DriftMonitor]]] = {}
        self.updates = 0

    def _for(self, stream: str) -> list[tuple[str, DriftMonitor]]:
        monitors = self._monitors.get(stream)
        if monitors is None:
            monitors = self._monitors[stream] = [(name, DriftMonitor("error_rate", spec))
                                                 for name, spec in self.detectors]
        return monitors

    def update(self, stream: str, index: int, value: int) -> None:
        """Feed one signal value."""
        for name, monitor in self._for(stream):
            finding = monitor.update(value, index, index)
            if finding is not None:
                evidence: dict[str, Any] = {
                    "detector": name, "summary": finding.summary, "statistic": finding.statistic,
                    "threshold": None, "window": {**finding.window, "index": index}, "signal": "error_rate",
                    "before": finding.before, "after": finding.after, "stream": stream}
                self.alerts.raise_alert("concept_drift", stream, evidence, now_ms=index,
                                        event_id=f"{stream}#{index}", detector=name)
        self.updates += 1

    def update_many(self, stream: str, values: Sequence[int]) -> None:
        """Feed a whole signal, index 0 onwards (the direct run)."""
        for index, value in enumerate(values):
            self.update(stream, index, value)


def alert_positions(alerts: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    """(stream, detector) → sorted event indices of the alerts (records as read back from Kafka)."""
    out: dict[tuple[str, str], list[int]] = {}
    for alert in alerts:
        evidence = alert["evidence"]
        out.setdefault((evidence["stream"], evidence["detector"]), []).append(int(evidence["window"]["index"]))
    return {key: sorted(value) for key, value in out.items()}


def river_positions(traces: Sequence[Any], detectors: Sequence[DetectorSpec],
                    cooldown_events: int) -> dict[tuple[str, str], list[int]]:
    """The same detectors and gate run directly on the in-memory signals, no Kafka."""
    manager = make_alert_manager(cooldown_events, None)
    pipeline = SignalDetectors(detectors, manager)
    for trace in traces:
        pipeline.update_many(trace.name, trace.errors.tolist())
    return alert_positions([alert.to_record() for alert in manager.sent])
