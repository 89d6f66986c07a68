"""The serve worker's part in model rollouts: follow the plan, split each batch by it, keep candidate
failures away from the champion, count the step, and — on the worker owning input partition 0 — run
the guard and raise its alerts.

The worker calls this at fixed points of its loop (a batch cut, a Triton answer, a publish, a commit);
everything here runs on the worker's thread except the plan watcher and the guard, which have their own.
"""

from __future__ import annotations

import logging
import queue

from engine.batching.micro_batch import BatchPart, MicroBatch
from engine.config.pipeline import PipelineSettings
from engine.errors import StackUnavailableError
from engine.inference.triton_client import InferenceOutcome
from engine.metrics.serve_metrics import ServeMetrics
from engine.pipeline.contract import PipelinePlugin
from engine.publish.records import OutputRecord
from engine.rollout.assign import CandidateHealth, PartAssigner
from engine.rollout.collector import RolloutCollector
from engine.rollout.guard import ALERTS, Guard
from engine.rollout.plan import RolloutPlan
from engine.rollout.store import PlanWatcher, PlanWriter

log = logging.getLogger("streaminfer.serve")


class WorkerRollout:
    """Rollout state and hooks of one serve worker.

    Args:
        settings: The pipeline.
        instance: The worker's id (names its step reports).
        plugin: The pipeline's plugin (entity keys, encoding, the output compared on mirrored events).
        metrics: The worker's metrics (per-version counters, plan gauges).
        plans: Follows the plan topic (None: no rollouts).
        default_version: Served while no plan names a champion.
    """

    def __init__(self, settings: PipelineSettings, instance: str, plugin: PipelinePlugin, metrics: ServeMetrics,
                 plans: PlanWatcher | None, default_version: str) -> None:
        rollout = settings.rollout
        self.settings = settings
        self.metrics = metrics
        self.plans = plans
        self.health = CandidateHealth(rollout.candidate_failures_to_bench, rollout.candidate_bench_s)
        self.assigner = PartAssigner(plugin, default_version, self.health)
        self.collector = RolloutCollector(settings.name, instance, rollout.plan_topic_for(settings.name),
                                          plugin.model_outputs[0] if plugin.model_outputs else "",
                                          rollout.report_interval_s)
        self.guard: Guard | None = None
        self.leader = False  # owns input partition 0: its guard judges the steps
        self._applied_generation = -1

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Read the plan before the first batch (a worker that guessed would serve the wrong version),
        then start the guard. No plan topic: rollouts are off, said once."""
        if self.plans is None:
            return
        s, plans = self.settings, self.plans
        wait_s = s.rollout.plan_wait_s
        if plans.start(wait_s):
            plan = plans.plan
            log.info("rollout plan from %s: %s", plans.topic, "none (the configured version serves)"
                     if plan is None else f"generation {plan.generation}, champion {plan.champion}, "
                     f"candidate {plan.candidate or '-'} ({plan.state.value})")
        elif plans.unusable:
            log.warning("rollouts are off for %s: %s", s.name, plans.error)
            self.plans = None
            return
        else:
            raise StackUnavailableError(f"could not read the rollout plan from {plans.topic!r} within "
                                        f"{wait_s:.0f} s (rollout.plan_wait_s): {plans.error or 'no answer'}")
        writer = PlanWriter(s.kafka.bootstrap_servers, plans.topic, s.rollout.audit_topic, s.kafka.client_security())
        self.guard = Guard(plans, writer, s.rollout.analysis, lambda: self.leader, s.rollout.guard_interval_s,
                           settle_s=3 * s.rollout.report_interval_s + 2.0)
        self.guard.start()

    def closers(self) -> list[tuple[str, object]]:
        """(what, close) for the worker's shutdown, guard first."""
        closers = []
        if self.guard is not None:
            closers.append(("rollout guard", self.guard.stop))
        if self.plans is not None:
            closers.append(("rollout plan watcher", self.plans.stop))
        return closers

    # -- a batch cut ----------------------------------------------------------------------------
    def current_plan(self, last_seq: int) -> RolloutPlan | None:
        """The plan in force now (and the gauges and log line when its generation changed)."""
        plan = self.plans.plan if self.plans is not None else None
        generation = plan.generation if plan is not None else -1
        if generation != self._applied_generation:
            self._applied_generation = generation
            self.metrics.rollout_generation.set(generation)
            self.metrics.rollout_weight.set(plan.candidate_weight if plan is not None else 0.0)
            if plan is not None:
                log.info("applying rollout plan generation %d from batch %d on: champion %s, candidate %s "
                         "(%s, %s, %.2f%% of keys)", generation, last_seq, plan.champion,
                         plan.candidate or "-", plan.mode.value, plan.state.value, plan.candidate_weight)
        return plan

    def assign(self, batch: MicroBatch, last_seq: int) -> None:
        """Split a cut batch into its Triton requests under the plan in force."""
        self.assigner.assign(batch, self.current_plan(last_seq))

    def champion_version(self, last_seq: int) -> str:
        """The version that serves keys not given to a candidate, now."""
        return self.assigner.champion_version(self.current_plan(last_seq))

    # -- Triton answers -------------------------------------------------------------------------
    @staticmethod
    def is_trial(batch: MicroBatch, part: BatchPart) -> bool:
        """A request to the candidate: short timeout, its own health, never the breaker's business."""
        plan = batch.plan
        return plan is not None and bool(plan.candidate) and part.version == plan.candidate and not part.fell_back

    def observe(self, batch: MicroBatch, part: BatchPart, outcome: InferenceOutcome, trial: bool) -> None:
        """Count one answer for its version (and the candidate's health)."""
        ok = outcome.error is None
        self.metrics.version_request(part.version or outcome.model_version, part.role, outcome.latency_s, ok)
        self.collector.observe_request(batch, part, outcome.latency_s, ok)
        if ok and trial:
            self.health.record(True)

    def candidate_failed(self, batch: MicroBatch, part: BatchPart, outcome: InferenceOutcome, trial: bool) -> None:
        """A candidate never holds up or fails the champion: a failed candidate part is scored by the
        champion at once, a failed mirror part is dropped (whichever version it asked); neither counts
        toward the breaker."""
        self.metrics.inference_error("candidate" if trial else "mirror")
        if not trial:
            log.warning("mirror request to version %s failed (batch %d): %s — dropped", part.version, batch.seq,
                        outcome.error)
        elif self.health.record(False):
            log.error("candidate version %s benched for %.0f s on this worker after %d failures in a row: %s",
                      part.version, self.health.bench_s, self.health.failures_to_bench, outcome.error)
        else:
            log.warning("candidate version %s failed (batch %d, %s part): %s — %s", part.version, batch.seq,
                        part.role, outcome.error, "dropped" if part.role == "mirror" else "the champion scores it")
        if part.role == "mirror":
            part.done = True
            return
        part.fell_back = True
        part.version = self.assigner.champion_version(batch.plan)
        part.retry_at = 0.0  # attempts > 0 and no outputs: the worker resubmits it now, to the champion

    # -- publish and commit ---------------------------------------------------------------------
    def published(self, batch: MicroBatch) -> None:
        """Count a published batch's outputs by the version that produced them, and for the step."""
        for part in batch.parts:
            if part.role != "mirror":
                role = "champion" if part.role == "champion" or part.fell_back else "candidate"
                self.metrics.version_events(part.served_version or part.version, role, len(part.positions))
                if part.fell_back:
                    self.metrics.fallbacks(len(part.positions))
        self.metrics.fallbacks(batch.benched)
        self.collector.observe_published(batch)

    def due_reports(self, final: bool) -> list[OutputRecord]:
        """Step reports to publish inside the transaction about to commit."""
        return self.collector.due_reports(force=final)

    def raise_alerts(self, alerts) -> None:
        """Alerts for the guard's decisions, raised on the worker's thread (the alert gate is not
        thread-safe); one that cannot go out is logged, never raised into the loop."""
        if self.guard is None:
            return
        model = self.settings.triton.model_name
        while True:
            try:
                decision = self.guard.decisions.get_nowait()
            except queue.Empty:
                return
            kind = ALERTS.get(decision.decision)
            manager = getattr(alerts, "manager", None)
            if kind is None or manager is None:
                continue
            audit = decision.audit
            evidence = {"detector": "rollout_guard",
                        "summary": f"{model} version {audit['candidate']}: {decision.plan.reason}"[:500],
                        "plan_id": audit["plan_id"], "champion": audit["champion"], "candidate": audit["candidate"],
                        "step": audit["step"], "exposure": audit["exposure"],
                        "verdict": decision.analysis.verdict.value,
                        "failed_checks": [c.name for c in decision.analysis.checks if c.verdict.value == "fail"]}
            try:
                manager.raise_alert(kind[0], f"{model}:{audit['candidate']}", evidence, severity=kind[1],
                                    detector=audit["plan_id"])
            except Exception as exc:  # noqa: BLE001 — an alert that cannot go out must never stop serving
                log.error("rollout alert %s not published: %r (the decision itself is on %s)", kind[0], exc,
                          self.settings.rollout.audit_topic)
