"""Soak summary: worker RSS over time, one row per minute, and its growth first minute → last.

A leak shows as RSS that keeps climbing at a constant input rate; start-up (imports, the first
batches, librdkafka's buffers filling) is in the first minute, so growth is measured from the first
minute's row, not from the process start.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class SoakRow:
    """RSS at the end of one minute of the run.

    Attributes:
        minute: 1 for the first minute of sampling, 2 for the second...
        at_s: Seconds since the run's start of the RSS sample used.
        answered: Answers seen by then.
        rss_mib: Resident memory of every live worker process then, MiB.
    """

    minute: int
    at_s: float
    answered: int
    rss_mib: float


@dataclass
class SoakSummary:
    """The per-minute rows and the growth between the first and the last."""

    rows: list[SoakRow] = field(default_factory=list)
    samples: int = 0
    interval_s: float = 10.0
    raw: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB), every sample

    @property
    def growth_mib(self) -> float | None:
        """Last row's RSS minus the first row's (None with fewer than two rows)."""
        if len(self.rows) < 2:
            return None
        return self.rows[-1].rss_mib - self.rows[0].rss_mib

    @property
    def growth_pct(self) -> float | None:
        """Growth relative to the first row, percent."""
        growth = self.growth_mib
        if growth is None or not self.rows[0].rss_mib:
            return None
        return 100.0 * growth / self.rows[0].rss_mib

    def growth_line(self) -> str:
        """``RSS 160.2 → 171.0 MiB (+10.8 MiB, +6.7 %) from minute 1 to minute 30``."""
        if not self.rows:
            return "RSS: no samples"
        first, last = self.rows[0], self.rows[-1]
        if self.growth_mib is None:
            return f"RSS {first.rss_mib:,.1f} MiB at minute {first.minute} (one row: no growth to measure)"
        pct = self.growth_pct
        pct_text = "" if pct is None else f", {pct:+.1f} %"
        return (f"RSS {first.rss_mib:,.1f} → {last.rss_mib:,.1f} MiB ({self.growth_mib:+,.1f} MiB{pct_text}) "
                f"from minute {first.minute} to minute {last.minute}")

    def to_json(self) -> dict[str, Any]:
        """Rows, growth and sampling facts."""
        return {"rows": [asdict(row) for row in self.rows], "growth_mib": self.growth_mib,
                "growth_pct": self.growth_pct, "samples": self.samples, "interval_s": self.interval_s,
                "rss_mib_samples": [list(sample) for sample in self.raw]}


def _value_at(samples: list[tuple[float, int]], t: float) -> int:
    """Value of the last sample at or before ``t`` (0 before the first)."""
    value = 0
    for when, sample in samples:
        if when > t:
            break
        value = sample
    return value


def summarize_soak(rss: list[tuple[float, int]], answered: list[tuple[float, int]],
                   interval_s: float = 10.0) -> SoakSummary:
    """One row per minute of RSS sampling: the last RSS sample within that minute.

    Args:
        rss: ``(seconds since start, bytes)`` samples, time order, zeros already dropped.
        answered: ``(seconds since start, answers)`` samples, time order.
        interval_s: The RSS sampling period (reported only).

    Minutes count from the first RSS sample; a minute without a sample has no row, and the last,
    partial minute has one only when it holds a sample.
    """
    summary = SoakSummary(samples=len(rss), interval_s=interval_s,
                          raw=[(round(when, 1), round(value / MIB, 1)) for when, value in rss])
    if not rss:
        return summary
    start = rss[0][0]
    by_minute: dict[int, tuple[float, int]] = {}
    for when, value in rss:
        # Minute k covers (start + 60(k-1), start + 60k]; the very first sample opens minute 1.
        minute = max(1, math.ceil((when - start) / 60.0 - 1e-9))
        by_minute[minute] = (when, value)  # later samples of the same minute replace earlier ones
    for minute in sorted(by_minute):
        when, value = by_minute[minute]
        summary.rows.append(SoakRow(minute, round(when, 1), _value_at(answered, when), round(value / MIB, 1)))
    return summary
