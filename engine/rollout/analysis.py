"""The analysis at the end of a guarded rollout step: the candidate against the champion, same period.

:func:`analyze` runs a fixed set of checks on a :class:`~engine.rollout.stats.StepStats` and folds them
into one :class:`Verdict`. A check fails as soon as the evidence is clear (ten errors out of ten
requests need no minimum sample), but passes only with enough samples; anything in between is
inconclusive, and the guard aborts a rollout after ``max_inconclusive`` of those in a row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.rollout.stats import StepStats

#: z of the Wilson score intervals (~99 % two-sided): wide, because a false FAIL rolls a good model back.
WILSON_Z = 2.58


class AnalysisSettings(BaseModel):
    """Thresholds of a guarded rollout: how long a step lasts and what the candidate must show."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: tuple[float, ...] = Field((1, 5, 25, 50, 100), min_length=1,
                                     description="Percent of entity keys the candidate serves per step, increasing.")
    step_duration_s: float = Field(60.0, gt=0, le=7 * 86400,
                                   description="Minimum time a step runs before it is analysed.")
    max_inconclusive: int = Field(3, ge=1, le=1000,
                                  description="Consecutive inconclusive analyses of one step that abort the rollout.")
    min_requests: int = Field(20, ge=1, description="Triton requests per version before latency/error checks pass.")
    min_latency_requests: int = Field(100, ge=1, description="Requests per version before the p99 itself is "
                                      "judged (before: only a median over the p99 limit fails).")
    min_events: int = Field(200, ge=1, description="Candidate events before the step can pass.")
    min_mirror_pairs: int = Field(200, ge=1, description="Events scored by both versions before score checks pass.")
    max_error_rate: float = Field(0.01, ge=0, le=1, description="Candidate error rate allowed above the champion's.")
    max_latency_p99_ratio: float = Field(1.5, ge=1, le=100,
                                         description="Candidate p99 may be at most this × champion p99 + slack.")
    latency_slack_ms: float = Field(20.0, ge=0, le=60_000,
                                    description="Absolute slack (ms) on top of the p99 ratio; keeps fast models fair.")
    max_dead_letter_rate_delta: float = Field(0.02, ge=0, le=1,
                                              description="Candidate dead-letter rate allowed above the champion's.")
    max_score_js: float = Field(0.1, ge=0, le=1,
                                description="Largest Jensen–Shannon divergence (base 2) of mirrored scores.")
    max_mean_abs_diff: float = Field(0.15, ge=0, le=1, description="Largest mean |candidate − champion| per pair.")
    mirror_rate: float = Field(0.1, ge=0, le=1,
                               description="Share of champion-served events the candidate also scores; 0 skips the "
                                           "score checks.")

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < w <= 100 for w in steps) or any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"steps must increase strictly within (0, 100], got {list(steps)}")
        return steps


class Verdict(str, Enum):
    """Outcome of one check or of the whole analysis."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


def _finite_or_none(value: float | None) -> float | None:
    # orjson writes inf as null and the stdlib writes invalid JSON; say null on purpose
    return value if value is None or math.isfinite(value) else None


@dataclass(frozen=True)
class Check:
    """One comparison of the candidate against a threshold.

    Attributes:
        name: Stable identifier (``error_rate``, ``latency_p99``…).
        value: The measured quantity; None when it cannot be computed yet.
        threshold: The limit ``value`` was held against.
        samples: How many observations the value rests on.
        min_samples: How many a PASS needs.
        verdict: This check's outcome.
        detail: One line for a human.
    """

    name: str
    value: float | None
    threshold: float
    samples: int
    min_samples: int
    verdict: Verdict
    detail: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (infinite numbers become null)."""
        return {"name": self.name, "value": _finite_or_none(self.value),
                "threshold": _finite_or_none(self.threshold), "samples": self.samples,
                "min_samples": self.min_samples, "verdict": self.verdict.value, "detail": self.detail}


@dataclass(frozen=True)
class Analysis:
    """The verdict of one step and the checks behind it."""

    verdict: Verdict
    checks: tuple[Check, ...]
    reason: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"verdict": self.verdict.value, "reason": self.reason, "checks": [c.to_json() for c in self.checks]}


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) without trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials)) / (1 + z2n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _rate_check(name: str, what: str, hits: int, trials: int, baseline: float, allowed: float,
                min_samples: int, enough_baseline: bool = True) -> Check:
    """FAIL if even the lowest plausible rate is over ``baseline + allowed``; PASS once ``min_samples``
    trials show a rate within the limit; in between (a rate over the limit without proof, or too few
    trials) INCONCLUSIVE, which holds the step.

    PASS asks for the observed rate, not for the interval's top to be under the limit: that would take
    ~660 clean requests for a 1 % limit at 99 % (batches: minutes of traffic per step at low weights),
    so a short step could never pass. ``min_samples`` is the guard against passing on too little."""
    limit = baseline + allowed
    low, high = wilson_interval(hits, trials)
    if trials and low > limit:
        verdict = Verdict.FAIL
    elif trials >= min_samples and enough_baseline and hits / trials <= limit:
        verdict = Verdict.PASS
    else:
        verdict = Verdict.INCONCLUSIVE
    detail = (f"candidate {hits}/{trials} {what} (99% interval {low:.4f}–{high:.4f}) vs limit {limit:.4f} "
              f"(baseline {baseline:.4f} + {allowed:.4f})")
    return Check(name, hits / trials if trials else None, limit, trials, min_samples, verdict, detail)


def _error_rate(stats: StepStats, s: AnalysisSettings) -> Check:
    champion = stats.champion
    baseline = champion.errors / champion.requests if champion.requests else 0.0
    # a champion rate from a handful of requests is no baseline to pass against (failing needs none)
    return _rate_check("error_rate", "errors", stats.candidate.errors, stats.candidate.requests, baseline,
                       s.max_error_rate, s.min_requests, enough_baseline=champion.requests >= s.min_requests)


def _fallback_rate(stats: StepStats, s: AnalysisSettings) -> Check:
    # counted per routed event, so the event minimum applies; the champion never falls back
    return _rate_check("fallback_rate", "fallbacks", stats.candidate.fallbacks, stats.candidate.routed, 0.0,
                       s.max_error_rate, s.min_events)


def _latency_p99(stats: StepStats, s: AnalysisSettings) -> Check:
    """Candidate p99 against the champion's. A p99 over a few dozen requests is one unlucky request
    (a GC pause, a cold graph), so the p99 is judged only from ``min_latency_requests`` on; before
    that a candidate fails only when even its median is over the limit — a model that is slow on
    most requests, which a handful of them already shows."""
    samples = min(stats.champion.requests, stats.candidate.requests)
    champion_p99, candidate_p99 = stats.champion.latency_quantile(0.99), stats.candidate.latency_quantile(0.99)
    slack_s = s.latency_slack_ms / 1000.0
    limit = s.max_latency_p99_ratio * champion_p99 + slack_s if champion_p99 is not None else math.inf
    rule = f"(limit {s.max_latency_p99_ratio:g}× + {s.latency_slack_ms:g} ms)"
    if samples < s.min_requests or champion_p99 is None or candidate_p99 is None:
        detail = (f"{stats.candidate.requests} candidate / {stats.champion.requests} champion requests, "
                  f"need {s.min_requests} each {rule}")
        return Check("latency_p99", candidate_p99, limit, samples, s.min_requests, Verdict.INCONCLUSIVE, detail)
    if samples < s.min_latency_requests:
        candidate_p50 = stats.candidate.latency_quantile(0.5)
        if candidate_p50 is not None and (math.isinf(candidate_p50) or candidate_p50 > limit):
            detail = (f"candidate median {candidate_p50:.3f} s is over the p99 limit already (champion p99 "
                      f"{champion_p99:.3f} s {rule}, {samples} requests)")
            return Check("latency_p99", candidate_p50, limit, samples, s.min_requests, Verdict.FAIL, detail)
        detail = (f"candidate p99 {candidate_p99:.3f} s vs champion {champion_p99:.3f} s {rule}: "
                  f"{samples} requests each, the p99 is judged from {s.min_latency_requests}")
        return Check("latency_p99", candidate_p99, limit, samples, s.min_latency_requests, Verdict.INCONCLUSIVE,
                     detail)
    # an overflowing candidate p99 fails even against an overflowing champion: inf > inf is False
    failed = math.isinf(candidate_p99) or candidate_p99 > limit
    detail = f"candidate p99 {candidate_p99:.3f} s vs champion {champion_p99:.3f} s {rule}"
    return Check("latency_p99", candidate_p99, limit, samples, s.min_requests,
                 Verdict.FAIL if failed else Verdict.PASS, detail)


def _dead_letter_rate(stats: StepStats, s: AnalysisSettings) -> Check:
    candidate, champion = stats.candidate, stats.champion
    threshold = s.max_dead_letter_rate_delta
    if candidate.routed < s.min_events:
        detail = f"{candidate.routed} candidate events routed, need {s.min_events}"
        return Check("dead_letter_rate", None, threshold, candidate.routed, s.min_events, Verdict.INCONCLUSIVE, detail)
    candidate_rate = candidate.dead_letters / candidate.routed
    champion_rate = champion.dead_letters / champion.routed if champion.routed else 0.0
    delta = candidate_rate - champion_rate
    detail = f"candidate dead letters {candidate_rate:.4f} vs champion {champion_rate:.4f} (limit +{threshold:.4f})"
    return Check("dead_letter_rate", delta, threshold, candidate.routed, s.min_events,
                 Verdict.FAIL if delta > threshold else Verdict.PASS, detail)


def _mirror_check(name: str, label: str, value: float | None, threshold: float, pairs: int,
                  s: AnalysisSettings) -> Check:
    if pairs < s.min_mirror_pairs or value is None:
        detail = f"{pairs} mirrored pairs, need {s.min_mirror_pairs}"
        return Check(name, value, threshold, pairs, s.min_mirror_pairs, Verdict.INCONCLUSIVE, detail)
    detail = f"{label} {value:.4f} over {pairs} mirrored pairs (limit {threshold:.4f})"
    return Check(name, value, threshold, pairs, s.min_mirror_pairs,
                 Verdict.FAIL if value > threshold else Verdict.PASS, detail)


def _candidate_events(stats: StepStats, s: AnalysisSettings) -> Check:
    events = stats.candidate.events
    verdict = Verdict.PASS if events >= s.min_events else Verdict.INCONCLUSIVE
    return Check("candidate_events", float(events), float(s.min_events), events, s.min_events, verdict,
                 f"{events} candidate events (need {s.min_events}), {stats.keys_exposed} keys exposed")


def analyze(stats: StepStats, settings: AnalysisSettings, extra_checks: Iterable[Check] = ()) -> Analysis:
    """Judge one step: FAIL if any check fails, else INCONCLUSIVE if any is, else PASS.

    Args:
        stats: The step's counts, merged over every worker.
        settings: Thresholds and minimum samples.
        extra_checks: Further checks (label metrics from a learner, say), folded into the verdict.

    Returns:
        The verdict, every check, and a reason naming the checks that decided it. A candidate that got
        no traffic is never a PASS.
    """
    checks = [_error_rate(stats, settings), _fallback_rate(stats, settings), _latency_p99(stats, settings),
              _dead_letter_rate(stats, settings)]
    if settings.mirror_rate > 0:  # without mirroring no pairs ever arrive: the checks could only stall
        mirror = stats.mirror
        checks.append(_mirror_check("score_js", "score JS divergence", mirror.js_divergence(),
                                    settings.max_score_js, mirror.pairs, settings))
        checks.append(_mirror_check("score_mean_abs_diff", "mean |score diff|", mirror.mean_abs_diff,
                                    settings.max_mean_abs_diff, mirror.pairs, settings))
    checks.append(_candidate_events(stats, settings))
    checks.extend(extra_checks)

    failed = [c for c in checks if c.verdict == Verdict.FAIL]
    unsure = [c for c in checks if c.verdict == Verdict.INCONCLUSIVE]
    candidate = stats.candidate
    if failed:
        verdict, reason = Verdict.FAIL, "failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
    elif not (candidate.requests or candidate.routed or candidate.events):
        # every check already says so with the minimums ≥ 1; kept explicit so no extra check can pass it
        verdict, reason = Verdict.INCONCLUSIVE, "inconclusive: the candidate got no traffic"
    elif unsure:
        verdict = Verdict.INCONCLUSIVE
        reason = "inconclusive: " + "; ".join(f"{c.name}: {c.detail}" for c in unsure)
    else:
        verdict, reason = Verdict.PASS, f"passed all {len(checks)} checks"
    return Analysis(verdict, tuple(checks), reason)
