"""Detector findings → alerts with the learner's evidence contract, shared by every learner kind."""

from __future__ import annotations

import math
from typing import Any

from engine.alerts.manager import AlertManager
from engine.learn.confirm import Verdict
from engine.learn.monitor import DriftFinding
from engine.learn.telemetry import LearnMetrics


class FindingAlerts:
    """Turns :class:`DriftFinding` and confirmation :class:`Verdict` objects into deduplicated alerts.

    Args:
        alerts: Alert manager (gate + publisher).
        metrics: Prometheus metrics (firings by kind and gate outcome).
        clock: ``wall`` or ``event_time`` (the cooldown clock of ``alerts.clock``).
        confirm_ratio: The configured confirmation ratio, reported as the threshold of a confirmed page.
    """

    def __init__(self, alerts: AlertManager, metrics: LearnMetrics, clock: str, confirm_ratio: float) -> None:
        self.alerts = alerts
        self.metrics = metrics
        self.clock = clock
        self.confirm_ratio = confirm_ratio

    def finding(self, kind: str, subject: str, finding: DriftFinding, topic: str, event_id: str | None,
                severity: str | None = None, stage: str | None = None) -> bool:
        """Alert on one finding; whether it was published (not suppressed by the gate)."""
        evidence = {"detector": finding.detector, "summary": finding.summary, "statistic": finding.statistic,
                    "threshold": None, "window": {**finding.window, "topic": topic}, "signal": finding.signal,
                    "before": finding.before, "after": finding.after, "params": finding.params}
        if stage is not None:
            evidence["stage"] = stage
        now = finding.event_time if self.clock == "event_time" else None
        alert = self.alerts.raise_alert(kind, subject, evidence, now_ms=now, event_id=event_id,
                                        detector=finding.detector, severity=severity)
        self.metrics.alert(kind, alert is not None)
        return alert is not None

    def confirmed(self, subject: str, verdict: Verdict, event_id: str, event_time: int, unit: str) -> bool:
        """Page a concept change that stayed large over its probation (``unit``: what was counted)."""
        finding = verdict.finding
        window = {**finding.window, "topic": "joined", "confirmed_at_time": event_time,
                  "confirmed_at": event_id, f"confirm_{unit}": verdict.labels}
        ratio = verdict.ratio if math.isfinite(verdict.ratio) else None  # JSON has no infinity
        evidence: dict[str, Any] = {
            "detector": finding.detector, "summary": verdict.summary, "statistic": ratio,
            "threshold": self.confirm_ratio, "window": window, "signal": finding.signal, "before": finding.before,
            "after": {"mean": verdict.mean, "n": verdict.labels}, "params": finding.params, "stage": "confirmed",
            "detected_at": finding.ref, "detected_at_time": finding.event_time}
        now = event_time if self.clock == "event_time" else None
        alert = self.alerts.raise_alert("concept_drift", subject, evidence, now_ms=now, event_id=event_id,
                                        detector=f"{finding.detector}/confirmed")
        self.metrics.alert("concept_drift", alert is not None)
        return alert is not None
