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

import numpy as np
from river import base, linear_model, preprocessing, tree

from engine.drift_eval.streams import StreamSpec, build_stream


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
                 progress: Callable[[SignalTrace], None] | None = None) -> list[SignalTrace]:
    """Signals of every spec, in ``specs`` order, ``workers`` processes at a time."""
    if workers <= 1:
        traces = []
        for spec in specs:
            traces.append(make_signal(spec))
            if progress:
                progress(traces[-1])
        return traces
    with ProcessPoolExecutor(max_workers=workers) as pool:
        traces = []
        for trace in pool.map(make_signal, specs, chunksize=1):
            traces.append(trace)
            if progress:
                progress(trace)
        return traces
