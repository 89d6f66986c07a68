"""Scoring alerts against true drifts: detection rate, delay, false alarms, missed drifts.

A drift counts as detected by the first alert in ``[start, min(next drift's start, start + max_delay))``
(``start`` is the centre for abrupt drifts, centre − width/2 for gradual ones); its delay is that
alert's index minus ``start``. Every alert not used as a detection is a false alarm — including a
second alert for a drift already detected (the cooldown exists to prevent exactly that).

Each false alarm is also given a cause, so a reader can tell a detector that cries wolf from one whose
alarms land just outside the scoring windows (the headline figures do not change):

- ``early``: in a gradual drift's leading tail, ``[centre − width, start)`` — the new concept already
  supplies 2–12 % of the samples there, so the change is real, only earlier than the window opens;
- ``late``: ``[start + max_delay, start + 2·max_delay)`` of a drift that counted as missed — the change,
  found too late to count;
- ``aftershock``: within ``2·max_delay`` of the start of a drift that was detected — the model re-adapting
  moves its error rate again;
- ``unexplained``: none of these: a false alarm in the plain sense.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from engine.drift_eval.signals import SignalTrace, TrueDrift
from engine.drift_eval.traces import StepTrace


@dataclass
class StreamScore:
    """One (stream, detector) pair."""

    stream: str
    generator: str
    kind: str
    seed: int
    detector: str
    events: int
    drifts: list[int]
    alerts: list[int]
    delays: list[int | None] = field(default_factory=list)
    false_alarms: int = 0
    false_alarm_causes: dict[str, int] = field(default_factory=dict)

    @property
    def detected(self) -> int:
        """Drifts detected in time."""
        return sum(delay is not None for delay in self.delays)

    @property
    def missed(self) -> int:
        """Drifts not detected in time."""
        return len(self.drifts) - self.detected

    def to_json(self) -> dict:
        """JSON-ready, with derived counts."""
        return {**asdict(self), "detected": self.detected, "missed": self.missed}


def score_stream(trace: SignalTrace | StepTrace, detector: str, alerts: Sequence[int],
                 max_delay: int) -> StreamScore:
    """Match ``alerts`` (event indices; unit positions for a plugin's trace) to the stream's true drifts."""
    spec = trace.spec
    length = trace.n_units
    starts = [d.start for d in trace.drifts]
    score = StreamScore(trace.name, spec.generator, spec.kind, spec.seed, detector, length,
                        [d.centre for d in trace.drifts], sorted(alerts))
    used: set[int] = set()
    for j, start in enumerate(starts):
        end = min(starts[j + 1] if j + 1 < len(starts) else length, start + max_delay)
        hit = next((a for a in score.alerts if start <= a < end), None)
        score.delays.append(None if hit is None else hit - start)
        if hit is not None:
            used.add(hit)
    unmatched = [a for a in score.alerts if a not in used]
    score.false_alarms = len(unmatched)
    for alert in unmatched:
        cause = false_alarm_cause(alert, trace.drifts, score.delays, trace.drift_width, max_delay)
        score.false_alarm_causes[cause] = score.false_alarm_causes.get(cause, 0) + 1
    return score


FALSE_ALARM_CAUSES = ("early", "late", "aftershock", "unexplained")


def false_alarm_cause(alert: int, drifts: Sequence[TrueDrift], delays: Sequence[int | None], width: int,
                      max_delay: int) -> str:
    """Why an unmatched alert is near a true drift, if it is (see the module docstring)."""
    if any(d.centre - width <= alert < d.start for d in drifts):
        return "early"
    if any(delay is None and d.start + max_delay <= alert < d.start + 2 * max_delay
           for d, delay in zip(drifts, delays)):
        return "late"
    if any(delay is not None and d.start <= alert < d.start + 2 * max_delay for d, delay in zip(drifts, delays)):
        return "aftershock"
    return "unexplained"


def summarize(scores: Iterable[StreamScore]) -> dict:
    """Detection rate, mean/max delay, false alarms per 100k events, missed drifts over ``scores``."""
    scores = list(scores)
    drifts = sum(len(s.drifts) for s in scores)
    delays = [d for s in scores for d in s.delays if d is not None]
    events = sum(s.events for s in scores)
    false_alarms = sum(s.false_alarms for s in scores)
    causes = {cause: sum(s.false_alarm_causes.get(cause, 0) for s in scores) for cause in FALSE_ALARM_CAUSES}
    return {
        "streams": len(scores), "events": events, "drifts": drifts, "detected": len(delays),
        "missed": drifts - len(delays),
        "detection_rate": len(delays) / drifts if drifts else None,
        "mean_delay": sum(delays) / len(delays) if delays else None,
        "max_delay": max(delays) if delays else None,
        "false_alarms": false_alarms,
        "false_alarms_per_100k": false_alarms * 100_000 / events if events else None,
        "false_alarm_causes": causes,
    }
