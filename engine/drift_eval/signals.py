"""The detector's input signal: the prequential 0/1 error stream of an online model on a synthetic stream.

The models adapt (scaler + logistic regression on SEA, whose concepts are linear; a Hoeffding adaptive
tree on Agrawal), as a champion that keeps being retrained would: a concept change shows as an error
burst that fades as the model re-adapts, and the detector must catch it in time. (A model that never
forgets makes every later drift invisible: after the first change it is wrong half the time anyway.)
Generating signals is the slow part (pure-Python streams and trees), so streams are spread over
worker processes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from river import base, linear_model, preprocessing, tree

from engine.drift_eval.streams import StreamSpec, build_stream

if TYPE_CHECKING:
    from engine.drift_eval.cache import SignalCache


@dataclass(frozen=True)
class TrueDrift:
    """A drift the stream really has: transition from ``start`` to ``end``, centred on ``centre``."""

    start: int
    centre: int
    end: int


@dataclass(frozen=True)
class SignalTrace:
    """One stream's signal and its ground truth."""

    spec: StreamSpec
    errors: np.ndarray  # int8, 1 = the model was wrong on that event
    drifts: tuple[TrueDrift, ...]

    @property
    def name(self) -> str:
        """The stream's name."""
        return self.spec.name

    @property
    def n_units(self) -> int:
        """Length in the scoring unit: events."""
        return len(self.errors)

    @property
    def drift_width(self) -> int:
        """Transition width of its gradual drifts, in events (1 for abrupt)."""
        return self.spec.drift_width


def signal_model(generator: str, seed: int) -> base.Classifier:
    """The online model whose errors form the signal."""
    if generator == "sea":
        return preprocessing.StandardScaler() | linear_model.LogisticRegression()
    return tree.HoeffdingAdaptiveTreeClassifier(seed=seed)


MODEL_DESCRIPTION = ("prequential 0/1 errors of StandardScaler|LogisticRegression (SEA) and "
                     "HoeffdingAdaptiveTreeClassifier (Agrawal)")


def make_signal(spec: StreamSpec) -> SignalTrace:
    """Run the signal model prequentially (predict, then learn) over the stream; record its errors."""
    stream = build_stream(spec)
    model = signal_model(spec.generator, spec.seed)
    errors = np.zeros(spec.n_events, dtype=np.int8)
    n = 0
    for x, y in stream:
        errors[n] = model.predict_one(x) != y
        model.learn_one(x, y)
        n += 1
    half = spec.drift_width // 2
    drifts = tuple(TrueDrift(max(0, c - half), c, c + half) for c in stream.centres)
    return SignalTrace(spec, errors[:n], drifts)


def make_signals(specs: Sequence[StreamSpec], workers: int = 2,
                 progress: Callable[[SignalTrace], None] | None = None,
                 cache: SignalCache | None = None) -> list[SignalTrace]:
    """Signals of every spec, in ``specs`` order, ``workers`` processes at a time.

    With a ``cache``, cached signals are loaded and only the missing ones generated (then stored).
    """
    traces: dict[int, SignalTrace] = {}
    for i, spec in enumerate(specs):
        cached = cache.load(spec) if cache is not None else None
        if cached is not None:
            traces[i] = cached
            if progress:
                progress(cached)
    todo = [i for i in range(len(specs)) if i not in traces]

    def done(i: int, trace: SignalTrace) -> None:
        traces[i] = trace
        if cache is not None:
            cache.store(trace)
        if progress:
            progress(trace)

    if workers <= 1 or len(todo) <= 1:
        for i in todo:
            done(i, make_signal(specs[i]))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for i, trace in zip(todo, pool.map(make_signal, [specs[i] for i in todo], chunksize=1)):
                done(i, trace)
    return [traces[i] for i in range(len(specs))]
