"""Mergeable counters of one rollout step: what each version did, and how their scores compare.

Every serve worker keeps a :class:`StepStats` per rollout step and ships it as JSON; the guard sums
the workers' copies with :meth:`StepStats.merge` and hands the total to ``engine.rollout.analysis``.
Everything here is a plain count or a fixed-bucket histogram, so merging is a sum: associative,
commutative, and the same whatever the order in which workers report.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Upper bounds (seconds) of the Triton request latency buckets; one more bucket counts overflow.
LATENCY_BOUNDS_S: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
                                       0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)
LATENCY_BUCKETS = len(LATENCY_BOUNDS_S) + 1

#: Equal-width bins over [0, 1] for score histograms (scores outside are clipped in).
SCORE_BINS = 20

# Pseudo-count added to every bin before the JS divergence: keeps log(0) out and damps the noise of
# sparse bins; half a count is negligible next to the minimum pair counts the analysis asks for.
_JS_SMOOTHING = 0.5

_VERSION_COUNTS = ("requests", "errors", "events", "fallbacks", "routed", "dead_letters")


def _zeros(n: int) -> list[int]:
    return [0] * n


def _add(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


def _fields(data: Any, where: str, expected: tuple[str, ...]) -> dict[str, Any]:
    """``data`` as a dict holding exactly ``expected`` keys (an unknown key is a schema mismatch,
    and silently dropping it would lose counts)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    missing = [k for k in expected if k not in data]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(data) - set(expected))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    return data


def _count(value: Any, where: str) -> int:
    # bool is an int in Python but never a count on the wire
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where}: expected a non-negative integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{where}: must not be negative, got {value}")
    return value


def _counts(value: Any, where: str, length: int) -> list[int]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list of {length} counts, got {type(value).__name__}")
    if len(value) != length:
        raise ValueError(f"{where}: expected {length} counts, got {len(value)}")
    return [_count(v, f"{where}[{i}]") for i, v in enumerate(value)]


@dataclass
class VersionStats:
    """What one model version did during one step, summed over workers.

    Attributes:
        requests: Triton requests sent to this version.
        errors: Requests that failed.
        events: Events whose published output this version produced (mirror-only scoring is counted
            in :class:`MirrorStats`, not here).
        fallbacks: Events routed to this version that the champion served because this version failed
            (only meaningful for the candidate).
        routed: Events routed to this version by key, whether served by it or fallen back.
        dead_letters: Records routed by key to this version that went to the dead-letter topic.
        latency_counts: Request latency histogram over :data:`LATENCY_BOUNDS_S` plus overflow.
    """

    requests: int = 0
    errors: int = 0
    events: int = 0
    fallbacks: int = 0
    routed: int = 0
    dead_letters: int = 0
    latency_counts: list[int] = field(default_factory=lambda: _zeros(LATENCY_BUCKETS))

    def observe_request(self, latency_s: float, ok: bool) -> None:
        """Count one Triton request and its latency (failed requests too: a timeout is slow)."""
        self.requests += 1
        if not ok:
            self.errors += 1
        # NaN fails `<=` and lands in overflow: an unknown latency is no evidence of speed
        if latency_s <= LATENCY_BOUNDS_S[-1]:
            index = bisect_left(LATENCY_BOUNDS_S, latency_s)  # a latency on a bound counts in that bucket
        else:
            index = LATENCY_BUCKETS - 1
        self.latency_counts[index] += 1

    def merge(self, other: VersionStats) -> VersionStats:
        """A new total of both (neither operand changes)."""
        sums = {name: getattr(self, name) + getattr(other, name) for name in _VERSION_COUNTS}
        return VersionStats(**sums, latency_counts=_add(self.latency_counts, other.latency_counts))

    def latency_quantile(self, q: float) -> float | None:
        """Upper bound (s) of the bucket holding the ``q``-quantile of request latency.

        ``float('inf')`` when it falls in the overflow bucket; None when there were no requests.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be within [0, 1], got {q}")
        total = sum(self.latency_counts)
        if total == 0:
            return None
        # the tolerance keeps float noise (0.07 * 100 = 7.000000000000001) from skipping a rank
        rank = max(1, math.ceil(q * total - 1e-9))
        index = int(np.searchsorted(np.cumsum(self.latency_counts), rank))
        return LATENCY_BOUNDS_S[index] if index < len(LATENCY_BOUNDS_S) else float("inf")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_json` reads it back exactly)."""
        return {**{name: getattr(self, name) for name in _VERSION_COUNTS}, "latency_counts": list(self.latency_counts)}

    @classmethod
    def from_json(cls, data: Any, where: str = "VersionStats") -> VersionStats:
        """Read :meth:`to_json` output; raises ValueError naming the first bad field."""
        data = _fields(data, where, (*_VERSION_COUNTS, "latency_counts"))
        counts = {name: _count(data[name], f"{where}.{name}") for name in _VERSION_COUNTS}
        # a swapped or corrupted field shows up here rather than as a nonsense rate later
        if counts["errors"] > counts["requests"]:
            raise ValueError(f"{where}: errors ({counts['errors']}) exceed requests ({counts['requests']})")
        if counts["fallbacks"] > counts["routed"]:
            raise ValueError(f"{where}: fallbacks ({counts['fallbacks']}) exceed routed ({counts['routed']})")
        latency = _counts(data["latency_counts"], f"{where}.latency_counts", LATENCY_BUCKETS)
        return cls(**counts, latency_counts=latency)


def _score_histogram(scores: np.ndarray) -> np.ndarray:
    # floor into equal bins; 1.0 (and anything clipped to it) lands in the last bin
    index = np.minimum((np.clip(scores, 0.0, 1.0) * SCORE_BINS).astype(np.int64), SCORE_BINS - 1)
    return np.bincount(index, minlength=SCORE_BINS)


@dataclass
class MirrorStats:
    """Paired comparison on events scored by both versions (the candidate's mirror sample).

    Attributes:
        pairs: Events scored by both.
        abs_diff_sum: Sum of |candidate − champion| over the pairs (scores clipped to [0, 1]).
        champion_hist: Champion scores over :data:`SCORE_BINS` bins of [0, 1].
        candidate_hist: Candidate scores over the same bins.
    """

    pairs: int = 0
    abs_diff_sum: float = 0.0
    champion_hist: list[int] = field(default_factory=lambda: _zeros(SCORE_BINS))
    candidate_hist: list[int] = field(default_factory=lambda: _zeros(SCORE_BINS))

    def observe(self, champion_scores: np.ndarray, candidate_scores: np.ndarray) -> None:
        """Add pairs of scores (same length, one pair per event).

        A pair where either score is NaN is skipped: it has no bin and no difference.
        """
        champion = np.asarray(champion_scores, dtype=np.float64).ravel()
        candidate = np.asarray(candidate_scores, dtype=np.float64).ravel()
        if champion.shape != candidate.shape:
            raise ValueError(f"expected paired scores, got {champion.size} champion and {candidate.size} candidate")
        keep = ~(np.isnan(champion) | np.isnan(candidate))
        champion = np.clip(champion[keep], 0.0, 1.0)
        candidate = np.clip(candidate[keep], 0.0, 1.0)
        self.pairs += int(champion.size)
        self.abs_diff_sum += float(np.abs(candidate - champion).sum())
        self.champion_hist = _add(self.champion_hist, _score_histogram(champion).tolist())
        self.candidate_hist = _add(self.candidate_hist, _score_histogram(candidate).tolist())

    def merge(self, other: MirrorStats) -> MirrorStats:
        """A new total of both (neither operand changes)."""
        return MirrorStats(pairs=self.pairs + other.pairs, abs_diff_sum=self.abs_diff_sum + other.abs_diff_sum,
                           champion_hist=_add(self.champion_hist, other.champion_hist),
                           candidate_hist=_add(self.candidate_hist, other.candidate_hist))

    @property
    def mean_abs_diff(self) -> float | None:
        """Mean |candidate − champion| per pair; None without pairs."""
        return self.abs_diff_sum / self.pairs if self.pairs else None

    def js_divergence(self) -> float | None:
        """Jensen–Shannon divergence (base 2, in [0, 1]) of the two score histograms; None without pairs."""
        if self.pairs == 0:
            return None
        p = np.asarray(self.champion_hist, dtype=np.float64) + _JS_SMOOTHING
        q = np.asarray(self.candidate_hist, dtype=np.float64) + _JS_SMOOTHING
        p /= p.sum()
        q /= q.sum()
        m = (p + q) / 2.0
        js = 0.5 * float(np.sum(p * np.log2(p / m))) + 0.5 * float(np.sum(q * np.log2(q / m)))
        return min(1.0, max(0.0, js))  # rounding can step a hair outside the range

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_json` reads it back exactly)."""
        return {"pairs": self.pairs, "abs_diff_sum": self.abs_diff_sum, "champion_hist": list(self.champion_hist),
                "candidate_hist": list(self.candidate_hist)}

    @classmethod
    def from_json(cls, data: Any, where: str = "MirrorStats") -> MirrorStats:
        """Read :meth:`to_json` output; raises ValueError naming the first bad field."""
        data = _fields(data, where, ("pairs", "abs_diff_sum", "champion_hist", "candidate_hist"))
        diff = data["abs_diff_sum"]
        if isinstance(diff, bool) or not isinstance(diff, int | float) or not math.isfinite(diff) or diff < 0:
            raise ValueError(f"{where}.abs_diff_sum: expected a finite non-negative number, got {diff!r}")
        return cls(pairs=_count(data["pairs"], f"{where}.pairs"), abs_diff_sum=float(diff),
                   champion_hist=_counts(data["champion_hist"], f"{where}.champion_hist", SCORE_BINS),
                   candidate_hist=_counts(data["candidate_hist"], f"{where}.candidate_hist", SCORE_BINS))


@dataclass
class StepStats:
    """Everything the analysis of one rollout step needs, summed over workers.

    Attributes:
        champion: The champion's counts.
        candidate: The candidate's counts.
        mirror: The paired score comparison.
        keys_exposed: Distinct entity keys the candidate served, summed over workers (approximate:
            a key seen by two workers after a rebalance counts twice).
    """

    champion: VersionStats = field(default_factory=VersionStats)
    candidate: VersionStats = field(default_factory=VersionStats)
    mirror: MirrorStats = field(default_factory=MirrorStats)
    keys_exposed: int = 0

    @classmethod
    def empty(cls) -> StepStats:
        """All counts zero."""
        return cls()

    def merge(self, other: StepStats) -> StepStats:
        """A new total of both (neither operand changes)."""
        return StepStats(champion=self.champion.merge(other.champion), candidate=self.candidate.merge(other.candidate),
                         mirror=self.mirror.merge(other.mirror), keys_exposed=self.keys_exposed + other.keys_exposed)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_json` reads it back exactly)."""
        return {"champion": self.champion.to_json(), "candidate": self.candidate.to_json(),
                "mirror": self.mirror.to_json(), "keys_exposed": self.keys_exposed}

    @classmethod
    def from_json(cls, data: Any, where: str = "StepStats") -> StepStats:
        """Read :meth:`to_json` output; raises ValueError naming the first bad field."""
        data = _fields(data, where, ("champion", "candidate", "mirror", "keys_exposed"))
        return cls(champion=VersionStats.from_json(data["champion"], f"{where}.champion"),
                   candidate=VersionStats.from_json(data["candidate"], f"{where}.candidate"),
                   mirror=MirrorStats.from_json(data["mirror"], f"{where}.mirror"),
                   keys_exposed=_count(data["keys_exposed"], f"{where}.keys_exposed"))
