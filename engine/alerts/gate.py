"""Deduplication and cooldown of alerts: a flapping detector pages once per cooldown, with a count.

Per dedup key the gate tracks one *incident*: it opens on the first firing, every further firing
within the cooldown of the previous one belongs to it (``count`` grows, ``last_seen`` moves), and it
closes after a full cooldown of silence. An incident is published when it opens and again at most
once per cooldown while it keeps firing (a reminder carrying the updated count) — never twice within
a cooldown. The clock is whatever the caller passes: wall time on duty, event time in evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GateDecision:
    """What to do with one firing."""

    publish: bool
    first_seen: int
    last_seen: int
    count: int


class AlertGate:
    """Decides which firings become published alerts.

    Args:
        cooldown_ms: Minimum time between two publications of one dedup key; also the silence that
            closes an incident. 0 publishes every firing.
    """

    def __init__(self, cooldown_ms: int) -> None:
        if cooldown_ms < 0:
            raise ValueError(f"cooldown_ms must be >= 0, got {cooldown_ms}")
        self.cooldown_ms = cooldown_ms
        # dedup key -> [first_seen, last_seen, count, last_published]; plain lists pickle small
        self._incidents: dict[str, list[int]] = {}
        self.published = 0
        self.suppressed = 0

    def offer(self, dedup_key: str, now_ms: int) -> GateDecision:
        """Register a firing of ``dedup_key`` at ``now_ms`` and say whether to publish it."""
        incident = self._incidents.get(dedup_key)
        if incident is None or now_ms - incident[1] >= self.cooldown_ms:
            self._incidents[dedup_key] = [now_ms, now_ms, 1, now_ms]
            self.published += 1
            return GateDecision(True, now_ms, now_ms, 1)
        incident[1] = max(incident[1], now_ms)
        incident[2] += 1
        if now_ms - incident[3] >= self.cooldown_ms:
            incident[3] = now_ms
            self.published += 1
            return GateDecision(True, incident[0], incident[1], incident[2])
        self.suppressed += 1
        return GateDecision(False, incident[0], incident[1], incident[2])

    def prune(self, now_ms: int) -> int:
        """Forget closed incidents (quiet for a full cooldown); returns how many."""
        closed = [key for key, incident in self._incidents.items() if now_ms - incident[1] >= self.cooldown_ms]
        for key in closed:
            del self._incidents[key]
        return len(closed)

    @property
    def open_incidents(self) -> int:
        """Incidents currently tracked."""
        return len(self._incidents)
