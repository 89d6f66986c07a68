"""Evaluation traces a pipeline plugin supplies itself: several real-valued signals per step, on a unit clock.

The River protocol (:mod:`engine.drift_eval.streams`) has one 0/1 error per event and counts in events. A
plugin whose feedback is richer hands the protocol :class:`StepTrace` objects instead — through an optional
plugin hook ``drift_eval_traces(quick, seeds, workers, cache)`` returning :class:`DriftEvalTraces` — and
the engine runs the same Kafka leg, the same learner detector and alert classes and the same scoring on
them. A *step* is one record (a request, say); the *clock* says where each step sits in the unit that
delays and false-alarm rates are counted in (e.g. items shown): step ``i`` covers units
``clock[i] .. clock[i + 1]``, true drifts and alert positions are in units.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from engine.drift_eval.signals import TrueDrift
from engine.learn.settings import DetectorSpec


@dataclass(frozen=True)
class TraceSpec:
    """What one trace is, for grouping and naming.

    Attributes:
        generator: Stream family (what drifts, e.g. one drift kind; ``null`` for undrifted streams).
        kind: ``abrupt``, ``gradual`` or ``null``.
        seed: Seed of the stream.
        name: Unique stream name (the Kafka key).
    """

    generator: str
    kind: str
    seed: int
    name: str


@dataclass(frozen=True)
class StepTrace:
    """One stream's signals (one value each per step), its unit clock and its true drifts (in units).

    Attributes:
        spec: What the stream is.
        signals: Signal name → float array [steps].
        clock: int64 [steps], the unit position where each step starts (ascending, ``clock[0] == 0``).
        n_units: Units in the whole stream (where the step after the last would start).
        drifts: True drifts, in units.
        drift_width: How far before a drift's centre its new regime already shows, in units: an unmatched
            alert in ``[centre - drift_width, start)`` is ``early`` (:mod:`engine.drift_eval.scoring`). For
            a sigmoid mixture that is its width; a linear ramp that starts at ``start`` has no leading tail
            (``centre - start``); 1 for abrupt drifts.
    """

    spec: TraceSpec
    signals: Mapping[str, np.ndarray]
    clock: np.ndarray
    n_units: int
    drifts: tuple[TrueDrift, ...]
    drift_width: int = 1

    @property
    def name(self) -> str:
        """The stream's name."""
        return self.spec.name

    @property
    def n_steps(self) -> int:
        """Steps (records) in the stream."""
        return len(self.clock)

    @property
    def undrifted_units(self) -> int:
        """Units before the first drift starts (all of them for a null stream)."""
        return min((d.start for d in self.drifts), default=self.n_units)

    def steps(self) -> Iterator[tuple[int, dict[str, float], int]]:
        """(step, {signal: value}, unit position) per step, in order: what goes to Kafka."""
        names = list(self.signals)
        columns = [self.signals[name].tolist() for name in names]
        for step, (position, *values) in enumerate(zip(self.clock.tolist(), *columns)):
            yield step, dict(zip(names, values)), position


@dataclass(frozen=True)
class Target:
    """One figure the evaluation must reach, e.g. ``Target("mean_delay", "<=", 5000, "impressions")``."""

    key: str
    op: Literal[">=", "<="]
    value: float
    text: str = ""

    def met(self, measured: float | None) -> bool | None:
        """Whether ``measured`` reaches the target (None if nothing was measured)."""
        if measured is None:
            return None
        return measured >= self.value if self.op == ">=" else measured <= self.value


@dataclass
class DriftEvalTraces:
    """Everything a plugin's ``drift_eval_traces`` hook hands the engine.

    Attributes:
        traces: The streams, in a stable order.
        watches: (signal, detector) pairs, each one DriftMonitor per stream; the first is the headline.
        unit: What the clock counts (``impressions``): delays and false-alarm rates are in it.
        max_delay: Latest an alert may come after a drift's start and still detect it, in units.
        cooldown: Alert cooldown, in units (the gate's clock is the unit position).
        targets: What the figures should reach.
        config: JSON-ready description of how the traces were made (sizes, model, seeds).
        signal_seconds: Time spent making (or loading) the traces.
        cache: ``{"directory", "loaded", "generated"}`` of the trace cache, or None.
    """

    traces: Sequence[StepTrace]
    watches: Sequence[tuple[str, DetectorSpec]]
    unit: str
    max_delay: int
    cooldown: int
    targets: Sequence[Target] = ()
    config: dict[str, Any] = field(default_factory=dict)
    signal_seconds: float = 0.0
    cache: dict[str, Any] | None = None
