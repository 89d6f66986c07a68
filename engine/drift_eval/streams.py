"""Synthetic streams with known drift points: River's ConceptDriftStream over SEA and Agrawal.

Several drifts per stream come from nesting ``ConceptDriftStream`` (concept 1 drifts into a stream that
itself drifts into concept 2...). Two things River does not give, added by a thin subclass:

- the global position where each nested drift is centred (an inner stream counts only the samples
  drawn from it, so with gradual drifts its centre is not simply the sum of positions): recorded as
  the stream is iterated;
- abrupt drifts: River 0.26 computes ``exp(-4 (t - p) / w)`` unguarded, which overflows for ``w = 1``
  and ``p`` beyond ~180 (``OverflowError: math range error``); the exponent is clamped, which changes
  no probability representable in a float.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from river.datasets import synth

#: Concepts visited in order. SEA variants 0, 3, 2, 1 move the threshold 8 → 9.5 → 7 → 9 (13 %, 20 %
#: and 16 % of the plane change class); Agrawal functions 0 → 2 → 5 → 8 disagree on 53 %, 51 % and 42 %
#: of the records. A drift that does not change the model's error is invisible to an error-stream
#: detector by definition, so the sequences are chosen to make every drift hurt.
CONCEPTS = {"sea": (0, 3, 2, 1), "agrawal": (0, 2, 5, 8)}
GENERATORS = tuple(CONCEPTS)
KINDS = ("abrupt", "gradual", "null")


class TrackedConceptDriftStream(synth.ConceptDriftStream):
    """``ConceptDriftStream`` with a clamped sigmoid that records where its drift is centred.

    Args:
        clock: Shared one-item list holding the global index of the sample being generated.
        centres: Where this stream appends the global index of its drift centre.
        **kwargs: ``ConceptDriftStream`` arguments.
    """

    def __init__(self, clock: list[int], centres: list[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clock = clock
        self._centres = centres

    def __iter__(self) -> Iterator[tuple[dict, Any]]:
        rng = random.Random(self.seed)
        stream, drift_stream = iter(self.stream), iter(self.drift_stream)
        sample_idx = 0
        while True:
            sample_idx += 1
            if sample_idx == self.position:
                self._centres.append(self._clock[0])
            v = max(-700.0, min(700.0, -4.0 * float(sample_idx - self.position) / float(self.width)))
            probability_drift = 1.0 / (1.0 + math.exp(v))
            try:
                x, y = next(stream) if rng.random() > probability_drift else next(drift_stream)
            except StopIteration:
                break
            yield x, y


@dataclass(frozen=True)
class StreamSpec:
    """One evaluation stream.

    Attributes:
        generator: ``sea`` or ``agrawal``.
        kind: ``abrupt``, ``gradual`` or ``null`` (no drift: the first concept throughout).
        seed: Seed of the concepts and of the drift sampling.
        segment: Events per concept (drift centres at segment, 2·segment...).
        concepts: Concepts visited (drifts = concepts - 1).
        width: Transition width of gradual drifts (abrupt: 1).
        length: Events in the stream (null streams: any length).
    """

    generator: str
    kind: str
    seed: int
    segment: int
    concepts: int = 4
    width: int = 1000
    length: int = 0

    @property
    def name(self) -> str:
        """``sea-abrupt-s3``."""
        return f"{self.generator}-{self.kind}-s{self.seed}"

    @property
    def n_events(self) -> int:
        """Events generated."""
        return self.length or self.segment * self.concepts

    @property
    def drift_width(self) -> int:
        """1 for abrupt drifts."""
        return self.width if self.kind == "gradual" else 1


@dataclass
class BuiltStream:
    """An iterable stream and where its drifts are centred (filled in while iterating)."""

    spec: StreamSpec
    samples: Any
    centres: list[int] = field(default_factory=list)
    clock: list[int] = field(default_factory=lambda: [0])

    def __iter__(self) -> Iterator[tuple[dict, Any]]:
        samples = iter(self.samples)
        for index in range(self.spec.n_events):
            self.clock[0] = index  # before drawing: nested streams read it while generating this sample
            try:
                sample = next(samples)
            except StopIteration:
                return
            yield sample


def _concept(generator: str, concept: int, seed: int) -> Any:
    if generator == "sea":
        return synth.SEA(variant=concept, seed=seed, noise=0.05)
    return synth.Agrawal(classification_function=concept, seed=seed)


def build_stream(spec: StreamSpec) -> BuiltStream:
    """The River stream for ``spec`` (concept seeds derive from ``spec.seed``)."""
    if spec.generator not in CONCEPTS or spec.kind not in KINDS:
        raise ValueError(f"unknown stream {spec.generator}/{spec.kind}")
    concepts = CONCEPTS[spec.generator][:spec.concepts]
    built = BuiltStream(spec, None)
    if spec.kind == "null":
        built.samples = _concept(spec.generator, concepts[0], spec.seed * 100)
        return built
    stream = _concept(spec.generator, concepts[-1], spec.seed * 100 + len(concepts) - 1)
    # Innermost first: each level drifts from its own concept into the (already built) rest.
    for level in range(len(concepts) - 2, -1, -1):
        stream = TrackedConceptDriftStream(
            built.clock, built.centres, stream=_concept(spec.generator, concepts[level], spec.seed * 100 + level),
            drift_stream=stream, position=spec.segment, width=spec.drift_width, seed=spec.seed * 1000 + level)
    built.samples = stream
    return built
