"""Turn a cut micro-batch into its Triton requests under the rollout plan in force.

Without a plan a batch is one request (the champion, or Triton's newest version when nothing pins
one). During a rollout its events are split by entity key (:mod:`engine.rollout.routing`) into the
candidate's events, the champion's events the candidate mirrors, and the rest; each group is encoded
on its own, so the plugin contract is unchanged. A benched candidate (it failed several times in a
row on this worker) gets no requests until its bench time is over: its keys go to the champion and
count as fallbacks.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from engine.batching.micro_batch import BatchPart, MicroBatch
from engine.pipeline.contract import ModelInputs, PipelinePlugin
from engine.rollout.plan import RolloutPlan
from engine.rollout.routing import KeyRouter

log = logging.getLogger("streaminfer.rollout")


class CandidateHealth:
    """Consecutive candidate failures on this worker; benches the candidate after too many.

    Args:
        failures_to_bench: Consecutive failures that bench it.
        bench_s: How long it stays benched before it is tried again.
    """

    def __init__(self, failures_to_bench: int, bench_s: float) -> None:
        self.failures_to_bench = failures_to_bench
        self.bench_s = bench_s
        self._plan_id = ""
        self.consecutive_failures = 0
        self._benched_until = 0.0

    def allows(self, plan: RolloutPlan) -> bool:
        """True when the candidate of ``plan`` may get requests now."""
        if plan.plan_id != self._plan_id:
            self._plan_id, self.consecutive_failures, self._benched_until = plan.plan_id, 0, 0.0
        return time.monotonic() >= self._benched_until

    def record(self, ok: bool) -> bool:
        """Count one candidate request; True when this failure benched the candidate."""
        if ok:
            self.consecutive_failures = 0
            return False
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.failures_to_bench and time.monotonic() >= self._benched_until:
            self._benched_until = time.monotonic() + self.bench_s
            self.consecutive_failures = 0
            return True
        return False


class PartAssigner:
    """Sets ``batch.parts`` (and ``batch.plan``) for every cut batch.

    Args:
        plugin: Encodes each group of events and names their entity keys.
        default_version: Version asked for without a plan ('' = Triton's newest).
        health: The candidate's health on this worker.
    """

    def __init__(self, plugin: PipelinePlugin, default_version: str, health: CandidateHealth) -> None:
        self.plugin = plugin
        self.default_version = default_version
        self.health = health
        self.router = KeyRouter()

    def champion_version(self, plan: RolloutPlan | None) -> str:
        """The version that serves keys not given to a candidate."""
        return plan.champion if plan is not None else self.default_version

    def assign(self, batch: MicroBatch, plan: RolloutPlan | None) -> None:
        """Split ``batch`` into parts for ``plan`` (the plan in force at this batch boundary)."""
        batch.plan = plan
        if not batch.needs_inference:
            return
        everyone = list(range(len(batch.events)))
        champion = self.champion_version(plan)
        whole = BatchPart("champion", champion, everyone, batch.inputs)
        if plan is None or not plan.active:
            batch.parts = [whole]
            return
        try:
            keys = [self.plugin.entity_key(event) for event in batch.events]
        except Exception as exc:  # noqa: BLE001 — a key the plugin cannot name is served by the champion
            log.error("entity_key failed, batch %d served by the champion: %r", batch.seq, exc)
            batch.parts = [whole]
            return
        split = self.router.split(keys, plan)
        batch.keys = keys
        if not self.health.allows(plan):
            batch.benched = len(split.candidate)
            batch.parts = [whole]
            return
        if self._sliceable(batch):
            batch.parts = self._sliced_parts(batch, plan, split)
            return
        if split.mirror_of_candidate:
            batch.parts = self._all_to_candidate(batch, plan, split.mirror)
            return
        candidate, mirrored = split.candidate, split.mirror
        mirrored_set = set(mirrored)
        rest = [p for p in split.champion if p not in mirrored_set]
        if not candidate and not rest:  # shadow of everything: the batch's own tensors, twice
            batch.parts = [whole, BatchPart("mirror", plan.candidate, everyone, batch.inputs, mirrors=0)]
            return
        if not candidate and not mirrored:
            batch.parts = [whole]
            return
        try:
            parts: list[BatchPart] = []
            if mirrored:
                parts.append(BatchPart("champion", champion, mirrored, self._encode(batch, mirrored)))
                parts.append(BatchPart("mirror", plan.candidate, mirrored, parts[-1].inputs, mirrors=len(parts) - 1))
            if rest:
                parts.append(BatchPart("champion", champion, rest, self._encode(batch, rest)))
            if candidate:
                parts.append(BatchPart("candidate", plan.candidate, candidate, self._encode(batch, candidate)))
        except Exception as exc:  # noqa: BLE001 — the whole batch encoded, so a subset must: a plugin bug
            log.error("plugin %r failed to encode part of batch %d (%r): the champion serves it all",
                      self.plugin.name, batch.seq, exc)
            batch.parts = [whole]
            return
        batch.parts = parts

    @staticmethod
    def _sliceable(batch: MicroBatch) -> bool:
        """One row per event and no layout: parts are row slices of the batch's tensors (fraud)."""
        return batch.inputs.layout is None and batch.inputs.rows == len(batch.events)

    def _sliced_parts(self, batch: MicroBatch, plan: RolloutPlan, split) -> list[BatchPart]:
        """One request per version that serves, plus one for the mirror sample, which is compared
        row by row with the serving request's outputs (``reference_rows``): no request is split for
        the mirror's sake, so a mirror costs the other version's rows and nothing more."""
        serving_role, mirror_version = ("candidate", plan.champion) if split.mirror_of_candidate \
            else ("champion", plan.candidate)
        served = split.candidate if split.mirror_of_candidate else split.champion
        parts: list[BatchPart] = []
        if served:
            version = plan.candidate if serving_role == "candidate" else plan.champion
            inputs = batch.inputs if len(served) == len(batch.events) else self._encode(batch, served)
            parts.append(BatchPart(serving_role, version, served, inputs))
        if not split.mirror_of_candidate and split.candidate:
            parts.append(BatchPart("candidate", plan.candidate, split.candidate, self._encode(batch, split.candidate)))
        if split.mirror and parts:
            mirrored = split.mirror
            rows = np.searchsorted(np.asarray(served, dtype=np.intp), np.asarray(mirrored, dtype=np.intp))
            inputs = parts[0].inputs if len(mirrored) == len(served) else self._encode(batch, mirrored)
            parts.append(BatchPart("mirror", mirror_version, mirrored, inputs, mirrors=0, reference_rows=rows))
        return parts

    def _all_to_candidate(self, batch: MicroBatch, plan: RolloutPlan, mirrored: list[int]) -> list[BatchPart]:
        """The candidate serves every key (the last guarded step): the champion mirrors a sample."""
        everyone = list(range(len(batch.events)))
        if len(mirrored) == len(everyone):
            return [BatchPart("candidate", plan.candidate, everyone, batch.inputs),
                    BatchPart("mirror", plan.champion, everyone, batch.inputs, mirrors=0)]
        if not mirrored:
            return [BatchPart("candidate", plan.candidate, everyone, batch.inputs)]
        mirrored_set = set(mirrored)
        rest = [p for p in everyone if p not in mirrored_set]
        try:
            sampled = BatchPart("candidate", plan.candidate, mirrored, self._encode(batch, mirrored))
            others = BatchPart("candidate", plan.candidate, rest, self._encode(batch, rest))
        except Exception as exc:  # noqa: BLE001 — as in assign: a plugin bug; no mirror for this batch
            log.error("plugin %r failed to encode part of batch %d (%r): no mirror for it", self.plugin.name,
                      batch.seq, exc)
            return [BatchPart("candidate", plan.candidate, everyone, batch.inputs)]
        return [sampled, BatchPart("mirror", plan.champion, mirrored, sampled.inputs, mirrors=0), others]

    def _encode(self, batch: MicroBatch, positions: list[int]) -> ModelInputs:
        """The tensors of some of the batch's events: rows sliced out of the batch's own tensors when
        each event is one row and the plugin keeps no layout (fraud), else encoded again (recs)."""
        inputs = batch.inputs
        if inputs.layout is None and inputs.rows == len(batch.events):
            index = np.asarray(positions, dtype=np.intp)
            return ModelInputs({name: array[index] for name, array in inputs.tensors.items()}, len(positions))
        return self.plugin.encode([batch.events[p] for p in positions])
