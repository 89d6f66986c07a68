"""Scoring alerts against true drifts: detection rate, delay, false alarms, missed drifts.

A drift counts as detected by the first alert in ``[start, min(next drift's start, start + max_delay))``
(``start`` is the centre for abrupt drifts, centre − width/2 for gradual ones); its delay is that
alert's index minus ``start``. Every alert not used as a detection is a false alarm — including a
second alert for a drift already detected (the cooldown exists to prevent exactly that).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from engine.drift_eval.signals import SignalTrace


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


def score_stream(trace: SignalTrace, detector: str, alerts: Sequence[int], max_delay: int) -> StreamScore:
    """Match ``alerts`` (event indices) to the stream's true drifts."""
    spec = trace.spec
    starts = [d.start for d in trace.drifts]
    score = StreamScore(trace.name, spec.generator, spec.kind, spec.seed, detector, len(trace.errors),
                        [d.centre for d in trace.drifts], sorted(alerts))
    used: set[int] = set()
    for j, start in enumerate(starts):
        end = min(starts[j + 1] if j + 1 < len(starts) else len(trace.errors), start + max_delay)
        hit = next((a for a in score.alerts if start <= a < end), None)
        score.delays.append(None if hit is None else hit - start)
        if hit is not None:
            used.add(hit)
    score.false_alarms = sum(1 for a in score.alerts if a not in used)
    return score


def summarize(scores: Iterable[StreamScore]) -> dict:
    """Detection rate, mean/max delay, false alarms per 100k events, missed drifts over ``scores``."""
    scores = list(scores)
    drifts = sum(len(s.drifts) for s in scores)
    delays = [d for s in scores for d in s.delays if d is not None]
    events = sum(s.events for s in scores)
    false_alarms = sum(s.false_alarms for s in scores)
    return {
        "streams": len(scores), "events": events, "drifts": drifts, "detected": len(delays),
        "missed": drifts - len(delays),
        "detection_rate": len(delays) / drifts if drifts else None,
        "mean_delay": sum(delays) / len(delays) if delays else None,
        "max_delay": max(delays) if delays else None,
        "false_alarms": false_alarms,
        "false_alarms_per_100k": false_alarms * 100_000 / events if events else None,
    }
