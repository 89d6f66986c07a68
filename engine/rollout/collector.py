"""A worker's counts of the rollout step in force, published as report records on the plan topic.

Counts are cumulative per (plan, step) and per worker process (``run``); a report replaces the last
one of the same key, so the group's figures are the sum over keys (:meth:`PlanLog.step_stats`).
Requests are counted when Triton answers, events when their batch is published; a transaction that
aborts later leaves its events counted once more when they are re-read (an over-count, never an
under-count, and only after a failure).
"""

from __future__ import annotations

import secrets
import time

import numpy as np

from engine.batching.micro_batch import BatchPart, MicroBatch
from engine.publish.records import OutputRecord
from engine.rollout.plan import RolloutPlan
from engine.rollout.routing import KeyRouter
from engine.rollout.stats import StepStats
from engine.rollout.store import report_key, report_value


class RolloutCollector:
    """Counts per version for the current step and turns them into report records when due.

    Args:
        pipeline: Pipeline name.
        worker: Worker instance id.
        plan_topic: Where reports go.
        score_output: The model output compared on mirrored events (the plugin's first output).
        interval_s: How often a report is due.
    """

    def __init__(self, pipeline: str, worker: str, plan_topic: str, score_output: str, interval_s: float) -> None:
        self.pipeline = pipeline
        self.worker = worker
        self.plan_topic = plan_topic
        self.score_output = score_output
        self.interval_s = interval_s
        self.run = secrets.token_hex(4)
        self._router = KeyRouter()
        self._step: tuple[str, int] | None = None
        self._plan: RolloutPlan | None = None
        self.stats = StepStats.empty()
        self._keys: set[str] = set()
        self._dirty = False
        self._final: list[OutputRecord] = []  # the last report of a step that just ended
        self._last_report = 0.0

    def _stats_for(self, plan: RolloutPlan | None) -> StepStats | None:
        if plan is None or not plan.plan_id or not plan.candidate:
            return None
        step = (plan.plan_id, plan.step)
        if step != self._step:
            if self._step is not None and self._dirty:
                self._final.append(self._record(self._plan))
            self._step, self._plan, self.stats, self._keys, self._dirty = step, plan, StepStats.empty(), set(), False
        elif plan.generation > self._plan.generation:
            self._plan = plan
        return self.stats

    def observe_request(self, batch: MicroBatch, part: BatchPart, latency_s: float, ok: bool) -> None:
        """One Triton answer for a part of ``batch``."""
        stats = self._stats_for(batch.plan)
        if stats is None:
            return
        version = stats.candidate if part.version == batch.plan.candidate else stats.champion
        version.observe_request(latency_s, ok)
        self._dirty = True

    def observe_published(self, batch: MicroBatch) -> None:
        """A published batch: events by the version that served them, fallbacks, dead letters, pairs."""
        plan = batch.plan
        stats = self._stats_for(plan)
        if stats is None or not plan.active:
            return
        candidate, champion = stats.candidate, stats.champion
        # Benched: the champion's one part scored every event (its events count below), and the
        # candidate's share of them was routed to the candidate and fell back.
        candidate.fallbacks += batch.benched
        candidate.routed += batch.benched
        parts = batch.parts
        for part in parts:
            served = len(part.positions)
            if part.role == "candidate":
                candidate.routed += served
                if part.fell_back:
                    candidate.fallbacks += served
                    champion.events += served
                else:
                    candidate.events += served
                    if batch.keys is not None:
                        self._keys.update(batch.keys[p] for p in part.positions)
            elif part.role == "champion":
                champion.routed += served
                champion.events += served
            elif part.outputs is not None and 0 <= part.mirrors < len(parts):
                reference = parts[part.mirrors].outputs
                if reference is not None and self.score_output in part.outputs:
                    mirrored = np.asarray(part.outputs[self.score_output]).ravel()
                    served = np.asarray(reference[self.score_output])
                    if part.reference_rows is not None:
                        served = served[part.reference_rows]
                    served = served.ravel()
                    if part.version == plan.champion:  # the last step: the champion mirrors the candidate
                        stats.mirror.observe(mirrored, served)
                    else:
                        stats.mirror.observe(served, mirrored)
        champion.routed -= batch.benched  # benched events were counted as the candidate's routed ones
        if batch.rejects:
            keys = [(batch.messages[r.index].key() or b"").decode("utf-8", "replace") for r in batch.rejects]
            split = self._router.split(keys, plan)
            candidate.dead_letters += len(split.candidate)
            candidate.routed += len(split.candidate)
            champion.dead_letters += len(split.champion)
            champion.routed += len(split.champion)
        stats.keys_exposed = len(self._keys)
        self._dirty = True

    def due_reports(self, force: bool = False) -> list[OutputRecord]:
        """Report records to publish now (inside the worker's transaction), possibly none."""
        records, self._final = self._final, []
        now = time.monotonic()
        if self._dirty and self._plan is not None and (force or now - self._last_report >= self.interval_s):
            records.append(self._record(self._plan))
            self._dirty = False
            self._last_report = now
        return records

    def _record(self, plan: RolloutPlan) -> OutputRecord:
        return OutputRecord(self.plan_topic, report_key(plan.plan_id, plan.step, self.worker, self.run),
                            report_value(self.pipeline, plan, self.worker, self.run, self.stats))
