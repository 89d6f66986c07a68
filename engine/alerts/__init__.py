"""Alerts for on-call, shared by the hot path (``serve``), the learning side branch and ``drift-eval``.

One contract (``topics/schemas/alerts.v1.json``), one dedup/cooldown gate, one publisher:
:class:`~engine.alerts.manager.AlertManager` is the single call a detector or health check makes.
"""

from engine.alerts.gate import AlertGate, GateDecision
from engine.alerts.manager import ALERT_KINDS, Alert, AlertBuilder, AlertManager, AlertPublisher, alert_validator

__all__ = ["ALERT_KINDS", "Alert", "AlertBuilder", "AlertGate", "AlertManager", "AlertPublisher", "GateDecision",
           "alert_validator"]
