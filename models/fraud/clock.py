"""Stream time with a daily rhythm: legitimate traffic is busier by day than by night."""

from __future__ import annotations

from typing import Final

import numpy as np

HOUR_MS: Final[int] = 3_600_000
DAY_MS: Final[int] = 24 * HOUR_MS

# Relative activity per UTC hour. Most cardholders sit between UTC-6 and UTC+1, so
# this keeps their local small hours quiet; fraud that ignores it stands out.
_HOURLY_WEIGHT = np.array([
    .55, .45, .35, .28, .25, .28, .45, .75, 1.0, 1.1, 1.2, 1.25,
    1.3, 1.4, 1.45, 1.45, 1.45, 1.4, 1.35, 1.25, 1.1, .95, .8, .65,
])
_HOURLY_SHARE = _HOURLY_WEIGHT / _HOURLY_WEIGHT.sum()
_CUMULATIVE = np.concatenate(([0.0], np.cumsum(_HOURLY_SHARE)))
_CUMULATIVE[-1] = 1.0


class StreamClock:
    """Maps "activity time" (days of average traffic) onto wall-clock milliseconds.

    The clock advances by ``n / events_per_day`` activity-days per batch of ``n``
    events, so the stream covers realistic time spans and velocity windows mean what
    they say. Legitimate event times are uniform in activity time, which makes them
    follow the hourly profile in real time.

    Args:
        start_ms: Wall-clock time where the stream begins.
        events_per_day: Expected legitimate events per day across all cards.
    """

    def __init__(self, start_ms: int, events_per_day: float) -> None:
        self._midnight_ms = start_ms - start_ms % DAY_MS
        self._events_per_day = events_per_day
        hour = (start_ms - self._midnight_ms) / HOUR_MS
        whole = int(hour)
        self._activity = float(_CUMULATIVE[whole] + (hour - whole) * _HOURLY_SHARE[whole])

    def advance(self, n: int) -> tuple[float, float]:
        """Reserve the activity-time span of the next ``n`` events.

        Returns:
            (start, end) of the span in activity-days.
        """
        start = self._activity
        self._activity = start + n / self._events_per_day
        return start, self._activity

    def to_ms(self, activity: np.ndarray | float) -> np.ndarray:
        """Convert activity-days to epoch milliseconds (int64, monotone)."""
        activity = np.asarray(activity, dtype=np.float64)
        day = np.floor(activity)
        fraction = activity - day
        hour = np.clip(np.searchsorted(_CUMULATIVE, fraction, side="right") - 1, 0, 23)
        within = (fraction - _CUMULATIVE[hour]) / _HOURLY_SHARE[hour]
        return (self._midnight_ms + (day * 24 + hour + within) * HOUR_MS).astype(np.int64)

    def legit_times(self, rng: np.random.Generator, span: tuple[float, float], n: int) -> np.ndarray:
        """Draw ``n`` event times inside ``span`` following the daily rhythm."""
        return self.to_ms(rng.uniform(span[0], span[1], n))
