"""The guard of a guarded rollout: judge the running step and move the plan on — next step, promote,
hold, abort or roll back — without an operator.

:func:`decide` is pure (plan, reports, settings, clock → the next plan or nothing). A failing
candidate is rolled back as soon as the evidence says so, mid-step; a step passes only once it has
run ``step_duration_s`` and every check passed; an inconclusive step is held for another period,
and ``max_inconclusive`` of those in a row abort the rollout. :class:`Guard` runs it on a thread of
the serve worker that owns partition 0 of the input topic (one guard per group; if two briefly
think they lead, the plan's generation rule lets only the first write win).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.rollout.analysis import Analysis, AnalysisSettings, Verdict, analyze
from engine.rollout.plan import RolloutMode, RolloutPlan, RolloutState, now_ms
from engine.rollout.store import PlanLog, PlanWatcher, PlanWriter, audit_record

log = logging.getLogger("streaminfer.rollout.guard")


@dataclass(frozen=True)
class Decision:
    """What the guard decided: the plan to write and its audit record."""

    plan: RolloutPlan
    decision: str
    analysis: Analysis
    audit: dict[str, Any]


def decide(plan_log: PlanLog, settings: AnalysisSettings, now: int | None = None) -> Decision | None:
    """The guard's next plan for the rollout in ``plan_log``, or None (nothing to do now)."""
    plan = plan_log.plan
    if plan is None or not plan.active or plan.mode != RolloutMode.GUARDED or not plan.steps:
        return None
    now = now_ms() if now is None else now
    analysis = analyze(plan_log.step_stats(plan.plan_id, plan.step), settings)
    exposure = plan_log.rollout_stats(plan.plan_id)
    step_ended = now - plan.step_started_ms >= settings.step_duration_s * 1000
    weight = plan.steps[plan.step]
    if analysis.verdict == Verdict.FAIL:
        new = plan.successor(f"step {plan.step + 1} at {weight:g}% {analysis.reason}"[:1000], "guard",
                             state=RolloutState.ROLLED_BACK, weight=0.0, mirror_rate=0.0)
        return _decision(new, "rolled_back", analysis, plan, exposure)
    if not step_ended:
        return None
    if analysis.verdict == Verdict.PASS:
        if plan.step + 1 >= len(plan.steps):
            new = plan.successor(f"passed the last step ({weight:g}%): promoted", "guard",
                                 state=RolloutState.PROMOTED, champion=plan.candidate, candidate="", weight=0.0,
                                 mirror_rate=0.0)
            return _decision(new, "promoted", analysis, plan, exposure)
        new = plan.successor(f"step {plan.step + 1} at {weight:g}% passed; now {plan.steps[plan.step + 1]:g}%",
                             "guard", step=plan.step + 1, weight=plan.steps[plan.step + 1], step_started_ms=now,
                             inconclusive=0)
        return _decision(new, "step_passed", analysis, plan, exposure)
    held = plan.inconclusive + 1
    if held >= settings.max_inconclusive:
        new = plan.successor(f"step {plan.step + 1} inconclusive {held} times in a row: aborted; "
                             f"{analysis.reason}"[:1000], "guard", state=RolloutState.ABORTED, weight=0.0,
                             mirror_rate=0.0, inconclusive=held)
        return _decision(new, "aborted", analysis, plan, exposure)
    new = plan.successor(f"step {plan.step + 1} inconclusive ({held}/{settings.max_inconclusive}), held: "
                         f"{analysis.reason}"[:1000], "guard", inconclusive=held, step_started_ms=now)
    return _decision(new, "inconclusive", analysis, plan, exposure)


def _decision(new: RolloutPlan, decision: str, analysis: Analysis, old: RolloutPlan, exposure) -> Decision:
    record = audit_record(new, decision, analysis.to_json(), exposure)
    # the record is about the step that was judged and the candidate that was on trial
    record.update(candidate=old.candidate, step=old.step, weight=new.candidate_weight)
    return Decision(new, decision, analysis, record)


#: Alert kind and severity per decision that on-call hears about.
ALERTS = {"rolled_back": ("rollout_rolled_back", "critical"), "aborted": ("rollout_aborted", "warning"),
          "promoted": ("rollout_promoted", "info")}


class Guard:
    """Runs :func:`decide` every ``interval_s`` while ``is_leader()``; writes what it decides.

    Args:
        watcher: The worker's plan watcher (its snapshot is the guard's evidence).
        writer: Writes plans and audit records.
        settings: The analysis thresholds.
        is_leader: True while this worker owns the group's partition 0.
        interval_s: How often to judge.
    """

    def __init__(self, watcher: PlanWatcher, writer: PlanWriter, settings: AnalysisSettings,
                 is_leader: Callable[[], bool], interval_s: float = 1.0, settle_s: float = 5.0) -> None:
        self.watcher = watcher
        self.writer = writer
        self.settings = settings
        self.is_leader = is_leader
        self.interval_s = interval_s
        self.settle_s = settle_s
        self._closing: list[tuple[float, RolloutPlan, str]] = []  # (due, plan, decision): final exposure
        self.decisions: queue.SimpleQueue[Decision] = queue.SimpleQueue()  # for the worker's alerts
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollout-guard", daemon=True)

    def start(self) -> None:
        """Start judging."""
        self._thread.start()

    def stop(self) -> None:
        """Stop (bounded); a finished rollout still waiting for its closing record gets it now, with
        what has been reported so far."""
        self._stop.set()
        self._thread.join(timeout=5)
        if self._closing:
            self._closing = [(0.0, plan, candidate) for _, plan, candidate in self._closing]
            try:
                self._close_due()
            except Exception as exc:  # noqa: BLE001 — shutting down: say so, lose nothing else
                log.warning("rollout guard: closing record not written: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self.is_leader():
                continue
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 — a failed write is retried next tick from a fresh read
                log.warning("rollout guard: %s", exc)

    def tick(self) -> Decision | None:
        """Judge once; write and return the decision (None when there is nothing to do)."""
        self._close_due()
        decision = decide(self.watcher.snapshot(), self.settings)
        if decision is None:
            return None
        self.writer.write_checked(decision.plan, decision.audit)
        plan = decision.plan
        log.warning("rollout guard: %s — generation %d: %s", decision.decision, plan.generation, plan.reason)
        self.decisions.put(decision)
        if plan.state in (RolloutState.ROLLED_BACK, RolloutState.ABORTED, RolloutState.PROMOTED):
            self._closing.append((time.monotonic() + self.settle_s, plan, decision.audit["candidate"]))
        return decision

    def _close_due(self) -> None:
        """Once the workers have published their last counts of a finished rollout (batches in flight at
        the decision, then a report interval), write its final exposure as a ``closed`` record: the
        decision's own record can only say what was reported by the moment it was taken."""
        now = time.monotonic()
        due = [item for item in self._closing if item[0] <= now]
        if not due:
            return
        self._closing = [item for item in self._closing if item[0] > now]
        snapshot = self.watcher.snapshot()
        for _, plan, candidate in due:
            exposure = snapshot.rollout_stats(plan.plan_id)
            record = audit_record(plan, "closed", None, exposure)
            record.update(candidate=candidate, actor="guard",
                          reason=f"final exposure of version {candidate}: {exposure.candidate.events} events, "
                                 f"{exposure.keys_exposed} keys, {exposure.candidate.fallbacks} fallbacks")
            self.writer.write_audit(record, plan.pipeline)
