"""Moved to :mod:`engine.alerts.gate`.

Kept because learner checkpoints pickle the gate by its class path: state written before the move
names ``engine.learn.dedup.AlertGate`` and must still restore after an upgrade.
"""

from engine.alerts.gate import AlertGate, GateDecision

__all__ = ["AlertGate", "GateDecision"]
