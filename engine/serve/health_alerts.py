"""Alerts the hot path raises about itself: ``inference_down``, ``error_rate`` and ``slo_breach``.

They go through the same schema, dedup and cooldown as the learning side's alerts
(:mod:`engine.alerts.manager`), so on-call reads one ``alerts`` topic with one contract.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from engine.config.pipeline import AlertSettings
from engine.alerts.manager import AlertManager

log = logging.getLogger("streaminfer.serve.alerts")


class HotPathAlerts:
    """Windowed health judgement of one serve worker.

    Args:
        settings: Thresholds and window.
        manager: Builder + gate + publisher (``None`` disables publishing but keeps the judgement).
        subject: The model the worker serves (``fraud``), the subject of inference alerts.
        clock: Monotonic clock, injectable for tests.
    """

    def __init__(self, settings: AlertSettings, manager: AlertManager | None, subject: str,
                 clock=time.monotonic) -> None:
        self.settings = settings
        self.manager = manager
        self.subject = subject
        self._clock = clock
        self._window_start = clock()
        self._consumed = 0
        self._dead: dict[str, int] = {}
        self._latencies: list[np.ndarray] = []

    # -- observations (cheap, per batch) ------------------------------------------------------
    def observe_batch(self, consumed: int, dead: dict[str, int], latencies: np.ndarray, model_version: str) -> None:
        """One published batch: how many records, dead letters by reason, end-to-end latencies (s)."""
        if self.manager is not None and model_version and self.manager.builder.model_version != model_version:
            self.manager.builder.set_model(self.manager.builder.model_name, model_version)
        self._consumed += consumed
        for reason, count in dead.items():
            self._dead[reason] = self._dead.get(reason, 0) + count
        if latencies.size:
            self._latencies.append(latencies)

    def breaker_opened(self, failures: int, last_error: str) -> None:
        """The circuit breaker opened: Triton is unreachable or the model keeps failing."""
        self._raise("inference_down", self.subject, "critical", {
            "detector": "circuit_breaker", "statistic": float(failures),
            "summary": f"{failures} consecutive Triton failures; partitions paused. Last error: {last_error[:300]}",
            "window": None,
        })

    # -- judgement (once per window) ----------------------------------------------------------
    def tick(self, final: bool = False) -> None:
        """Judge the window if it is over (or, ``final``, whatever it holds), then start a new one."""
        now = self._clock()
        if now - self._window_start < self.settings.window_s and not final:
            return
        s, span = self.settings, now - self._window_start
        window = {"seconds": round(span, 1), "events": self._consumed}
        dead_total = sum(self._dead.values())
        if self._consumed >= s.min_events and dead_total / self._consumed > s.max_dead_letter_ratio:
            ratio = dead_total / self._consumed
            self._raise("error_rate", "dead_letters", "warning", {
                "detector": "dead_letter_ratio", "statistic": round(ratio, 6), "threshold": s.max_dead_letter_ratio,
                "window": window,
                "summary": f"{ratio:.1%} of input dead-lettered over {span:.0f}s (limit {s.max_dead_letter_ratio:.1%}); "
                           f"by reason: {dict(sorted(self._dead.items()))}",
            })
        if self._latencies:
            latencies = np.concatenate(self._latencies)
            if latencies.size >= s.min_events:
                p99_ms = float(np.percentile(latencies, 99)) * 1000.0
                if p99_ms > s.slo_p99_ms:
                    self._raise("slo_breach", "p99_latency", "warning", {
                        "detector": "latency_slo", "statistic": round(p99_ms, 3), "threshold": s.slo_p99_ms,
                        "window": window,
                        "summary": f"p99 end-to-end latency {p99_ms:.0f} ms over {span:.0f}s > SLO {s.slo_p99_ms:.0f} ms",
                        "before": None, "after": {"p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 3)},
                    })
        self._window_start, self._consumed, self._dead, self._latencies = now, 0, {}, []

    def close(self) -> None:
        """Judge the last, partial window (a burst just before shutdown still pages), then deliver
        what is pending (bounded)."""
        self.tick(final=True)
        if self.manager is not None and self.manager.publisher is not None:
            self.manager.publisher.close(timeout=5.0)

    def _raise(self, kind: str, subject: str, severity: str, evidence: dict) -> None:
        if self.manager is None:
            log.warning("%s (%s): %s", kind, subject, evidence["summary"])
            return
        try:
            self.manager.raise_alert(kind, subject, evidence, severity=severity, detector=evidence["detector"])
        except Exception as exc:  # noqa: BLE001 — alerting must never take the hot path down
            log.error("could not publish %s alert: %s", kind, exc)
