"""Typed settings of a ranking learner: ``compose/pipelines/<pipeline>.learn.yaml`` plus environment.

The shared sections (topics, sampling, join, alerts, state, stream, metrics) are the per-event learner's
(:class:`engine.learn.settings.BaseLearnSettings`); what differs is what one example is (a ranked list and
its feedback), its metrics, its detectors and its challengers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from engine.learn.settings import (
    AlertSettings,
    BaseLearnSettings,
    DetectorSpec,
    JoinSettings,
    SamplingSettings,
    ScalarParam,
    _Section,
)


class RankingMetricSettings(_Section):
    """How a ranked list and its feedback are scored."""

    k: int = Field(10, ge=1, le=500, description="Cut-off of CTR@k, NDCG@k, HR@k and the challengers' top-k.")
    window: int = Field(5000, ge=100, description="Requests in the rolling count windows.")
    time_windows_s: tuple[float, ...] = Field((300.0, 3600.0), max_length=4,
                                              description="Also over the requests whose feedback came in the last S s.")
    new_item_age_s: float = Field(3600.0, gt=0, description="An item first seen less than this long ago is 'new'.")
    max_items_tracked: int = Field(200_000, ge=1000, description="Items whose first sighting and popularity are "
                                                                 "remembered (least recently seen forgotten first).")
    position_window: int = Field(200_000, ge=1000, description="Impressions the slots' examination curve is "
                                                               "estimated from (EM, position-based click model).")
    max_position: int = Field(50, ge=2, le=500, description="Slots beyond this share one propensity.")

    @field_validator("time_windows_s")
    @classmethod
    def _sane_time_windows(cls, spans: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 1.0 <= span <= 7 * 86_400 for span in spans):
            raise ValueError("each time window must be between 1 s and 7 days")
        if len(set(spans)) != len(spans):
            raise ValueError("time windows must differ")
        return spans


class RankingFeatureDriftSettings(_Section):
    """Detectors over per-request context and item-mix features (sampled requests)."""

    enabled: bool = True
    detector: DetectorSpec = Field(default_factory=lambda: DetectorSpec(kind="ADWIN", params={"delta": 1e-5}))
    ignore: tuple[str, ...] = Field((), description="Features not watched (seasonal ones).")
    # A falling share of never-seen items is no news. (drift-eval, seeds 1-10: 10/10 abrupt cohorts found
    # after 904 impressions either way; the 6.5 false warnings per 1M undrifted impressions are all rises —
    # the world's catalogue arrivals in each stream's first hour — so rises-only did not lower them.)
    increase_only: tuple[str, ...] = Field(("new_item_share",), description="Features whose rises only alert.")


class RankingPredictionDriftSettings(_Section):
    """A detector over the champion's top score per request (every ranked list)."""

    enabled: bool = True
    detector: DetectorSpec = Field(default_factory=lambda: DetectorSpec(kind="ADWIN", params={"delta": 1e-7}))


class RankingConceptDriftSettings(_Section):
    """Detectors over the champion's click stream once feedback arrives (one value per request)."""

    enabled: bool = True
    # CTR@k per request falls when tastes move away from what the champion learned.
    # δ chosen with `drift-eval --pipeline recs` traces on held-out seeds 101-110 (full-size streams: 30 abrupt
    # drifts, 15.6M undrifted impressions), direct runs, delays in impressions: ADWIN on ctr caught the 20
    # taste-shift and popularity-shock drifts at every δ from 1e-4 to 0.1 with no false alarm, mean delay
    # 7,054 (δ=1e-4) → 5,766 (1e-3) → 4,384 (1e-2) → 3,744 (3e-2) → 3,016 (0.1); undrifted false alarms
    # first appear at δ=0.3 (0.13 per 1M impressions; 0.45 at 0.5). None of them sees the new-item cohort
    # (CTR of the shown lists falls 4 %). δ=3e-2: inside the 5,000-impression delay target with a margin,
    # 10× below the δ where false alarms start.
    ctr_detector: DetectorSpec = Field(
        default_factory=lambda: DetectorSpec(kind="ADWIN", params={"delta": 3e-2}, direction="decrease"))
    # Mean log loss of the champion's click probability over the request's impressions.
    # Same run: the loss rises only under a taste shift (10/10, after ctr: mean 10,352 impressions at δ=1e-4,
    # 8,163 at 1e-3); a popularity shock lowers it (the champion scores the new head items lower) and the
    # cohort leaves it flat. False alarms from δ=0.1 (0.13 per 1M undrifted impressions, 0.39 at 0.3): it adds
    # no detection ctr misses, so it stays 100× below that, δ=1e-3.
    loss_detector: DetectorSpec = Field(
        default_factory=lambda: DetectorSpec(kind="ADWIN", params={"delta": 1e-3}, direction="increase"))
    confirm_requests: int = Field(1000, ge=0, description="Requests after a change before it is judged; 0 = every "
                                                          "finding pages at once.")
    confirm_ratio: float = Field(1.15, gt=1.0, description="How much worse the signal must stay (after/before for "
                                                           "a rise, before/after for a fall) to page.")


class RankerSpec(_Section):
    """One shadow ranker: a River model built by ``engine.learn.ranking.learners.RANKERS[kind]``."""

    name: str = Field(..., pattern=r"^[a-z][a-z0-9_.-]{0,63}$", description="Challenger name in metrics and alerts.")
    kind: str = Field(..., description="fm (river.facto.FMClassifier) or biased_mf (river.reco.BiasedMF).")
    params: dict[str, ScalarParam] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from engine.learn.ranking.learners import RANKERS

        if kind not in RANKERS:
            raise ValueError(f"unknown ranker {kind!r}; known: {', '.join(sorted(RANKERS))}")
        return kind


class RankingShadowSettings(_Section):
    """Challengers that learn from feedback and re-rank the same candidate lists in shadow."""

    enabled: bool = True
    models: tuple[RankerSpec, ...] = Field(default_factory=lambda: (
        RankerSpec(name="river_fm", kind="fm", params={"n_factors": 8, "seed": 7}),
        RankerSpec(name="river_mf", kind="biased_mf", params={"n_factors": 8, "seed": 7}),
    ))
    sample_rate: float = Field(0.25, gt=0.0, le=1.0,
                               description="Share of the joined users whose lists the challengers re-rank and learn "
                                           "(by key): challengers cost ~5 ms a list, the champion's figures ~50 µs.")
    max_candidates: int = Field(200, ge=1, le=10_000, description="Candidates a challenger scores per request "
                                                                 "(the first ones of the request).")
    compare_every: int = Field(500, ge=1, description="Joined requests between two comparisons.")
    min_requests: int = Field(2000, ge=10, description="No verdict before this many requests in the window...")
    min_clicks: int = Field(200, ge=1, description="...nor before this many clicks.")
    # Measured with `python -m models.recs.learning.challenger_replay` (README): ips_ctr is a lower bound
    # (unshown items count as unclicked: it never claims a win the feedback cannot support, and missed a
    # real 2x win after a taste shift); ips_ctr_adj divides by the share of the top-k the champion showed
    # (unshown items assumed as good as shown ones: it ordered the models right but overstated by 1.3-2x).
    metric: Literal["ips_ctr", "ips_ctr_adj", "ips_dcg"] = Field(
        "ips_ctr", description="Position-debiased estimate compared: ips_ctr (lower bound), ips_ctr_adj "
                               "(coverage-adjusted), ips_dcg.")
    margin: float = Field(0.05, ge=0.0, description="Relative margin: challenger ≥ (1 + margin) × champion wins.")
    publish_records: bool = Field(True, description="Publish each comparison to the shadow topic.")


class RankingLearnSettings(BaseLearnSettings):
    """Everything a ranking learner needs beyond the pipeline settings."""

    sampling: SamplingSettings = Field(default_factory=lambda: SamplingSettings(feature_rate=0.05, join_rate=0.05))
    join: JoinSettings = Field(default_factory=lambda: JoinSettings(ttl_s=120.0))
    alerts: AlertSettings = Field(default_factory=lambda: AlertSettings(severity={
        "feature_drift": "warning", "prediction_drift": "info", "concept_drift": "critical",
        "challenger_wins": "info", "state_integrity": "critical"}))
    ranking: RankingMetricSettings = Field(default_factory=RankingMetricSettings)
    feature_drift: RankingFeatureDriftSettings = Field(default_factory=RankingFeatureDriftSettings)
    prediction_drift: RankingPredictionDriftSettings = Field(default_factory=RankingPredictionDriftSettings)
    concept_drift: RankingConceptDriftSettings = Field(default_factory=RankingConceptDriftSettings)
    shadow: RankingShadowSettings = Field(default_factory=RankingShadowSettings)
