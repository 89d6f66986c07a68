"""The hot path's own alerts: windowed error rate and latency SLO, breaker opening; deduplicated."""

import numpy as np

from engine.config.pipeline import AlertSettings
from engine.alerts.manager import AlertBuilder, AlertManager, alert_validator
from engine.alerts.gate import AlertGate
from engine.serve.health_alerts import HotPathAlerts

VALIDATE = alert_validator()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _alerts(clock: Clock, **overrides) -> tuple[HotPathAlerts, AlertManager]:
    settings = AlertSettings(**{"window_s": 10.0, "min_events": 100, "slo_p99_ms": 100.0,
                                "max_dead_letter_ratio": 0.05, "cooldown_s": 60.0, **overrides})
    manager = AlertManager(AlertBuilder("fraud", model_name="fraud"), AlertGate(cooldown_ms=60_000),
                           publisher=None, clock_ms=lambda: int(clock.now * 1000))
    return HotPathAlerts(settings, manager, subject="fraud", clock=clock), manager


def test_error_rate_and_slo_fire_once_per_window_and_validate() -> None:
    clock = Clock()
    alerts, manager = _alerts(clock)
    alerts.observe_batch(1000, {"not_json": 80}, np.full(1000, 0.5), "3")
    clock.now = 5.0
    alerts.tick()
    assert manager.sent == [], "the window is not over yet"
    clock.now = 10.0
    alerts.tick()
    kinds = sorted(a.kind for a in manager.sent)
    assert kinds == ["error_rate", "slo_breach"]
    for alert in manager.sent:
        VALIDATE(alert.to_record())
        assert alert.model == {"name": "fraud", "version": "3"}
    slo = next(a for a in manager.sent if a.kind == "slo_breach")
    assert slo.evidence["statistic"] == 500.0 and slo.evidence["threshold"] == 100.0

    # Same conditions in the next window: within the cooldown, nothing new is published.
    alerts.observe_batch(1000, {"not_json": 80}, np.full(1000, 0.5), "3")
    clock.now = 20.0
    alerts.tick()
    assert len(manager.sent) == 2


def test_healthy_or_thin_windows_raise_nothing() -> None:
    clock = Clock()
    alerts, manager = _alerts(clock)
    alerts.observe_batch(1000, {"not_json": 10}, np.full(1000, 0.02), "1")  # 1% DLQ, 20 ms p99
    clock.now = 10.0
    alerts.tick()
    alerts.observe_batch(50, {"not_json": 50}, np.full(50, 5.0), "1")  # bad but too few events to judge
    clock.now = 20.0
    alerts.tick()
    assert manager.sent == []


def test_breaker_opening_is_inference_down_critical() -> None:
    clock = Clock()
    alerts, manager = _alerts(clock)
    alerts.breaker_opened(3, "StatusCode.UNAVAILABLE: connection refused")
    alerts.breaker_opened(3, "again")  # deduplicated within the cooldown
    assert [(a.kind, a.severity, a.subject) for a in manager.sent] == [("inference_down", "critical", "fraud")]
    VALIDATE(manager.sent[0].to_record())


def test_a_burst_just_before_shutdown_is_judged_when_closing() -> None:
    clock = Clock()
    alerts, manager = _alerts(clock)
    alerts.observe_batch(1000, {"not_json": 300}, np.full(1000, 0.01), "1")
    clock.now = 0.5  # stopped half a second into the window
    alerts.tick()
    assert manager.sent == []
    alerts.close()
    assert [a.kind for a in manager.sent] == ["error_rate"], "the partial last window must still page"
