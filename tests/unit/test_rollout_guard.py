"""The guard's decisions (engine.rollout.guard.decide) on hand-made step reports."""

from __future__ import annotations

import numpy as np

from engine.rollout.analysis import AnalysisSettings
from engine.rollout.guard import decide
from engine.rollout.plan import RolloutMode, RolloutPlan, RolloutState
from engine.rollout.stats import StepStats
from engine.rollout.store import PlanLog

SETTINGS = AnalysisSettings(steps=(10, 50, 100), step_duration_s=10, min_requests=10, min_events=100,
                            min_mirror_pairs=100, mirror_rate=0.5, max_error_rate=0.05, max_inconclusive=2)
T0 = 1_000_000


def guarded(step: int = 0, inconclusive: int = 0) -> RolloutPlan:
    return RolloutPlan(pipeline="fraud", generation=3, plan_id="fraud-2-abc", champion="1", candidate="2",
                       mode=RolloutMode.GUARDED, state=RolloutState.ACTIVE, steps=(10, 50, 100), step=step,
                       weight=(10, 50, 100)[step], mirror_rate=0.5, step_started_ms=T0, started_ms=T0,
                       inconclusive=inconclusive)


def healthy(requests: int = 400, scale: float = 1.0, shift: float = 0.0, errors: int = 0) -> StepStats:
    stats = StepStats.empty()
    for version, latency in ((stats.champion, 0.004), (stats.candidate, 0.004 * scale)):
        for _ in range(requests):
            version.observe_request(latency, True)
        version.events = version.routed = requests * 5
    for _ in range(errors):
        stats.candidate.observe_request(0.004, False)
    rng = np.random.default_rng(0)
    champion = rng.beta(1, 20, 2000)
    stats.mirror.observe(champion, np.clip(champion + shift, 0, 1) if shift >= 0 else rng.random(2000))
    return stats


def log_with(plan: RolloutPlan, stats: StepStats | None) -> PlanLog:
    reports = {} if stats is None else {"report/x/0/w0/r": (plan.plan_id, plan.step, stats)}
    return PlanLog(plan=plan, reports=reports)


def test_nothing_happens_before_the_step_has_run_its_time():
    assert decide(log_with(guarded(), healthy()), SETTINGS, now=T0 + 5_000) is None


def test_a_passed_step_moves_to_the_next_weight_with_fresh_counts():
    decision = decide(log_with(guarded(), healthy()), SETTINGS, now=T0 + 10_000)
    assert decision.decision == "step_passed"
    plan = decision.plan
    assert (plan.step, plan.weight, plan.step_started_ms, plan.generation) == (1, 50, T0 + 10_000, 4)
    assert plan.actor == "guard" and decision.audit["step"] == 0 and decision.audit["weight"] == 50


def test_the_last_step_passed_promotes_the_candidate():
    decision = decide(log_with(guarded(step=2), healthy()), SETTINGS, now=T0 + 10_000)
    assert decision.decision == "promoted"
    assert (decision.plan.state, decision.plan.champion, decision.plan.candidate) == (RolloutState.PROMOTED, "2", "")
    assert decision.audit["candidate"] == "2"


def test_random_scores_roll_back_mid_step_with_the_exposure():
    decision = decide(log_with(guarded(), healthy(shift=-1)), SETTINGS, now=T0 + 2_000)
    assert decision.decision == "rolled_back" and decision.plan.state == RolloutState.ROLLED_BACK
    failed = {c.name for c in decision.analysis.checks if c.verdict.value == "fail"}
    assert "score_js" in failed
    assert decision.audit["exposure"]["events"] == 2000


def test_a_slow_candidate_rolls_back_on_latency():
    decision = decide(log_with(guarded(), healthy(scale=20)), SETTINGS, now=T0 + 2_000)
    assert decision.decision == "rolled_back"
    assert "latency_p99" in {c.name for c in decision.analysis.checks if c.verdict.value == "fail"}


def test_too_little_evidence_holds_the_step_then_aborts():
    held = decide(log_with(guarded(), None), SETTINGS, now=T0 + 10_000)
    assert held.decision == "inconclusive" and held.plan.inconclusive == 1
    assert held.plan.step_started_ms == T0 + 10_000 and held.plan.state == RolloutState.ACTIVE
    aborted = decide(log_with(guarded(inconclusive=1), None), SETTINGS, now=T0 + 10_000)
    assert aborted.decision == "aborted" and aborted.plan.state == RolloutState.ABORTED


def test_only_active_guarded_plans_are_judged():
    canary = guarded().model_copy(update={"mode": RolloutMode.CANARY})
    assert decide(log_with(canary, healthy(shift=-1)), SETTINGS, now=T0 + 20_000) is None
    assert decide(PlanLog(), SETTINGS) is None
