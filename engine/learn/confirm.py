"""Confirmation of a concept-drift change point before it pages anyone.

ADWIN on the fraud champion's errors trips on fraud episodes too: on 600k undrifted labels it fired
twice with the error rate 13–26 % up at that moment, then back to 0.73–1.04× of the earlier rate over
the next 5,000 labels. An injected drift stays up (2.5× over the next 5,000). So a finding is first
published as a ``warning`` (fast, what ``drift-eval`` scores), and becomes a ``critical`` page only if
the signal's mean over the next ``labels`` values is at least ``ratio`` times its mean before the change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.learn.monitor import DriftFinding


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the values after a change point said about it.

    Attributes:
        finding: The detector's finding that opened the probation.
        mean: Mean of the signal over the probation.
        labels: Values in the probation.
        ratio: ``mean`` over the mean before the change (``inf`` if that was 0 and ``mean`` is not).
        confirmed: Whether ``ratio`` reached the configured ratio.
    """

    finding: DriftFinding
    mean: float
    labels: int
    ratio: float
    confirmed: bool

    @property
    def summary(self) -> str:
        """One line for humans."""
        before = self.finding.before.get("mean") or 0.0
        return (f"{self.finding.signal}: mean {before:.4g} → {self.mean:.4g} ({self.ratio:.2f}×) over the "
                f"{self.labels} labels after the change {self.finding.detector} found")


class ChangeConfirmer:
    """Watches one signal for ``labels`` values after a change point and judges the change's size.

    One probation at a time: findings during a probation belong to the same incident (the earliest
    change point is the one judged).

    Args:
        labels: Values to wait for after a finding.
        ratio: Minimum after/before ratio of the means for a confirmation (> 1); before/after when
            ``direction`` is ``decrease``.
        direction: Which way the signal moves when things get worse.

    Raises:
        ValueError: If ``labels`` < 1 or ``ratio`` <= 1.
    """

    def __init__(self, labels: int, ratio: float, direction: str = "increase") -> None:
        if labels < 1 or ratio <= 1.0:
            raise ValueError(f"need labels >= 1 and ratio > 1, got {labels}, {ratio}")
        if direction not in ("increase", "decrease"):
            raise ValueError(f"direction must be increase or decrease, got {direction!r}")
        self.labels = labels
        self.ratio = ratio
        self.direction = direction  # "decrease": a falling signal (CTR) is the bad news, judged before/after
        self._finding: DriftFinding | None = None
        self._n = 0
        self._total = 0.0
        self.confirmed = 0
        self.unconfirmed = 0

    @property
    def pending(self) -> DriftFinding | None:
        """The finding on probation, if any."""
        return self._finding

    def start(self, finding: DriftFinding) -> bool:
        """Put ``finding`` on probation; False if one already is (or it has no "before" to compare with)."""
        if self._finding is not None or finding.before.get("mean") is None:
            return False
        self._finding, self._n, self._total = finding, 0, 0.0
        return True

    def update(self, value: float) -> Verdict | None:
        """Feed one value that came after the change point; a :class:`Verdict` when the probation ends."""
        finding = self._finding
        if finding is None:
            return None
        self._n += 1
        self._total += value
        if self._n < self.labels:
            return None
        mean = self._total / self._n
        before = float(finding.before["mean"])
        worse, better = (mean, before) if getattr(self, "direction", "increase") == "increase" else (before, mean)
        ratio = worse / better if better > 0 else (math.inf if worse > 0 else 1.0)
        verdict = Verdict(finding, mean, self._n, ratio, ratio >= self.ratio)
        self._finding = None
        if verdict.confirmed:
            self.confirmed += 1
        else:
            self.unconfirmed += 1
        return verdict
