"""The learner's detector and alert logic applied to evaluation signals — with or without Kafka around it.

:class:`SignalDetectors` is fed (stream, index, value) triples: from a Kafka consumer in the Kafka run,
from the in-memory arrays in the direct River run. Both use the same :class:`DriftMonitor` and the same
:class:`AlertManager` / :class:`AlertGate` as ``streaminfer learn``; the event index is the alert clock,
so the cooldown is counted in events and both runs are deterministic. A plugin's multi-signal traces
(:mod:`engine.drift_eval.traces`) go the same way, with (signal, detector) watches and their unit
position (impressions, say) as the alert clock instead of the step number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.alerts.manager import AlertBuilder, AlertManager, AlertPublisher
from engine.alerts.gate import AlertGate
from engine.drift_eval.traces import StepTrace
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


Watch = DetectorSpec | tuple[str, DetectorSpec]


def watch_name(watch: Watch) -> str:
    """Label of a watch: ``adwin(delta=0.0001)`` for a bare detector (it watches ``error_rate``),
    ``ctr:adwin(delta=0.0001)`` for a (signal, detector) pair."""
    if isinstance(watch, DetectorSpec):
        return detector_name(watch)
    signal, spec = watch
    return f"{signal}:{detector_name(spec)}"


class SignalDetectors:
    """One :class:`DriftMonitor` per (stream, watch), alerting through one :class:`AlertManager`.

    Args:
        detectors: What is evaluated: bare detector configurations (each watches the single 0/1 value of
            a step, the signal ``error_rate``) or (signal, detector) pairs (each watches that entry of a
            step's ``{signal: value}`` mapping).
        alerts: Where findings go.
    """

    def __init__(self, detectors: Sequence[Watch], alerts: AlertManager) -> None:
        self.detectors = [(watch_name(watch), *((None, watch) if isinstance(watch, DetectorSpec) else watch))
                          for watch in detectors]
        self.alerts = alerts
        self._monitors: dict[str, list[tuple[str, str | None, DriftMonitor]]] = {}
        self.updates = 0

    def _for(self, stream: str) -> list[tuple[str, str | None, DriftMonitor]]:
        monitors = self._monitors.get(stream)
        if monitors is None:
            monitors = self._monitors[stream] = [(name, signal, DriftMonitor(signal or "error_rate", spec))
                                                 for name, signal, spec in self.detectors]
        return monitors

    def update(self, stream: str, index: int, value: float | Mapping[str, float], clock: int | None = None) -> None:
        """Feed one step: a value (bare detectors) or ``{signal: value}`` (pairs).

        Args:
            stream: Stream name.
            index: Step number.
            value: The step's value(s).
            clock: The step's unit position, the alert clock and the position alerts report; the step
                number when None (one unit per step).
        """
        position = index if clock is None else clock
        for name, signal, monitor in self._for(stream):
            finding = monitor.update(value if signal is None else value[signal], position, index)
            if finding is not None:
                window = {**finding.window, "index": position}
                if clock is not None:
                    window["step"] = index
                evidence: dict[str, Any] = {
                    "detector": name, "summary": finding.summary, "statistic": finding.statistic,
                    "threshold": None, "window": window, "signal": signal or "error_rate",
                    "before": finding.before, "after": finding.after, "stream": stream}
                self.alerts.raise_alert("concept_drift", stream, evidence, now_ms=position,
                                        event_id=f"{stream}#{index}", detector=name)
        self.updates += 1

    def update_many(self, stream: str, values: Sequence[int]) -> None:
        """Feed a whole signal, index 0 onwards (the direct run)."""
        for index, value in enumerate(values):
            self.update(stream, index, value)

    def update_trace(self, trace: StepTrace) -> None:
        """Feed a plugin's trace step by step, on its unit clock (the direct run)."""
        for index, values, position in trace.steps():
            self.update(trace.name, index, values, position)


def alert_positions(alerts: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    """(stream, detector) → sorted event indices of the alerts (records as read back from Kafka)."""
    out: dict[tuple[str, str], list[int]] = {}
    for alert in alerts:
        evidence = alert["evidence"]
        out.setdefault((evidence["stream"], evidence["detector"]), []).append(int(evidence["window"]["index"]))
    return {key: sorted(value) for key, value in out.items()}


def river_positions(traces: Sequence[Any], detectors: Sequence[Watch],
                    cooldown_events: int) -> dict[tuple[str, str], list[int]]:
    """The same detectors and gate run directly on the in-memory signals, no Kafka."""
    manager = make_alert_manager(cooldown_events, None)
    pipeline = SignalDetectors(detectors, manager)
    for trace in traces:
        if isinstance(trace, StepTrace):
            pipeline.update_trace(trace)
        else:
            pipeline.update_many(trace.name, trace.errors.tolist())
    return alert_positions([alert.to_record() for alert in manager.sent])
