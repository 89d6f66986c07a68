"""What a chaos run saw over time: sampled series (answers, RSS) and the fault timeline rows.

Series are sampled on a background thread, so a fault that blocks the run's main loop for a
minute (a zombie waiting to be fenced) does not blind the measurements of the faults around it:
recovery times and quiet periods are computed afterwards from the samples.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


class Series:
    """Thread-safe ``(seconds since the run's start, value)`` samples, in time order."""

    def __init__(self) -> None:
        self._times: list[float] = []
        self._values: list[int] = []
        self._lock = threading.Lock()

    def add(self, t: float, value: int) -> None:
        """Append a sample (``t`` must not go backwards)."""
        with self._lock:
            self._times.append(t)
            self._values.append(value)

    def samples(self) -> list[tuple[float, int]]:
        """A copy of every sample."""
        with self._lock:
            return list(zip(self._times, self._values))

    def last(self) -> tuple[float, int] | None:
        """The newest sample, if any."""
        with self._lock:
            return (self._times[-1], self._values[-1]) if self._times else None

    def value_at(self, t: float) -> int | None:
        """The value of the last sample taken at or before ``t`` (None before the first)."""
        with self._lock:
            index = bisect.bisect_right(self._times, t) - 1
            return self._values[index] if index >= 0 else None

    def recovery_after(self, t: float) -> float | None:
        """Seconds from ``t`` until the value first grew above its value at ``t``; None if it never did.

        This is a fault's recovery time: ``t`` is when the fault's actions completed, the value the
        answered count.
        """
        with self._lock:
            index = bisect.bisect_right(self._times, t) - 1
            base = self._values[index] if index >= 0 else 0
            for when, value in zip(self._times[index + 1:], self._values[index + 1:]):
                if value > base:
                    return max(0.0, when - t)
        return None

    def last_change(self) -> float | None:
        """Time of the sample where the value last changed (the first sample if it never did)."""
        with self._lock:
            if not self._times:
                return None
            final = self._values[-1]
            for index in range(len(self._values) - 1, 0, -1):
                if self._values[index - 1] != final:
                    return self._times[index]
            return self._times[0]


class Sampler:
    """Appends ``read()`` to ``series`` every ``interval_s`` on a daemon thread until stopped.

    Args:
        series: Where samples go.
        read: Returns the value now; an exception skips the sample (the run's loop reports errors).
        clock: Seconds since the run's start.
        interval_s: Sampling period.
        skip_zero: Drop zero values (an RSS read between a worker's exit and its replacement).
    """

    def __init__(self, series: Series, read: Callable[[], int], clock: Callable[[], float], interval_s: float,
                 skip_zero: bool = False, name: str = "chaos-sampler") -> None:
        self.series = series
        self._read = read
        self._clock = clock
        self._interval_s = interval_s
        self._skip_zero = skip_zero
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Sampler":
        """Take the first sample now, then one per interval."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def sample_now(self) -> None:
        """Take one sample on the caller's thread (a final value right before a summary)."""
        try:
            value = self._read()
        except Exception:  # noqa: BLE001 — a failed read is one missing sample, not a failed run
            return
        if value or not self._skip_zero:
            self.series.add(self._clock(), value)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample_now()
            self._stop.wait(self._interval_s)


@dataclass
class FaultRecord:
    """One row of the fault timeline.

    Attributes:
        fault: What was scheduled (``kill@0.1``), or an unscheduled event (``unexpected-exit``,
            ``shutdown``).
        kind: The fault kind.
        started_s: Seconds since the run's start when it fired.
        progress: Fraction of the run answered when it fired.
        answered: Answers seen when it fired.
        action: What was done.
        outcome: What happened (exit codes, restart times).
        expected: What had to happen.
        ok: Whether the outcome was the expected one.
        completed_s: Seconds since the start when the fault's actions were done (None: aborted).
        recovery_s: Seconds from ``completed_s`` until the answered count grew again (None: it did
            not, e.g. everything was already answered).
    """

    fault: str
    kind: str
    started_s: float
    progress: float
    answered: int
    action: str = ""
    outcome: str = ""
    expected: str = ""
    ok: bool = False
    completed_s: float | None = None
    recovery_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON object."""
        return asdict(self)


class RunClock:
    """Seconds since the run's start, and the run's overall deadline (``--max-minutes``)."""

    def __init__(self, max_seconds: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + max_seconds

    def now(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.started

    def left(self) -> float:
        """Seconds until the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def bound(self, timeout_s: float) -> float:
        """``timeout_s``, cut to what is left of the run, so no single wait outlives it."""
        return max(0.1, min(timeout_s, self.left()))
