"""A circuit breaker for the model server: closed → open after N consecutive failures → half-open
when a health probe says ready → closed after one successful request (or open again on failure)."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum


class BreakerState(IntEnum):
    """Exported as a metric value, so the numbers are part of the contract."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    """Decides whether requests may go to Triton; pure logic, no I/O (the caller probes).

    Args:
        failure_threshold: Consecutive failures that open the breaker.
        probe_interval_s: Minimum time between health probes while open.
        clock: Monotonic clock, injectable for tests.
    """

    def __init__(self, failure_threshold: int, probe_interval_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.probe_interval_s = probe_interval_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._last_probe = float("-inf")
        self._opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """Current state."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._consecutive_failures

    @property
    def open_for_s(self) -> float:
        """Seconds since the breaker opened (0 when closed)."""
        return 0.0 if self._opened_at is None else self._clock() - self._opened_at

    def allows_requests(self) -> bool:
        """True when requests may be sent (closed, or half-open for the trial request)."""
        return self._state != BreakerState.OPEN

    def record_success(self) -> None:
        """A request succeeded: close."""
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._opened_at = None

    def record_failure(self) -> bool:
        """A request failed; returns True when this failure opened the breaker."""
        self._consecutive_failures += 1
        if self._state == BreakerState.HALF_OPEN or (
            self._state == BreakerState.CLOSED and self._consecutive_failures >= self.failure_threshold
        ):
            was_closed = self._state == BreakerState.CLOSED
            self._state = BreakerState.OPEN
            self._last_probe = self._clock()
            if self._opened_at is None:
                self._opened_at = self._clock()
            return was_closed
        return False

    def probe_due(self) -> bool:
        """True when open and the probe interval has passed."""
        return self._state == BreakerState.OPEN and self._clock() - self._last_probe >= self.probe_interval_s

    def record_probe(self, ready: bool) -> None:
        """Result of a health probe: ready → half-open (one trial request may go)."""
        self._last_probe = self._clock()
        if ready and self._state == BreakerState.OPEN:
            self._state = BreakerState.HALF_OPEN
