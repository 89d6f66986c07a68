"""The rollout plan: which model version serves which keys, shared by a pipeline's whole consumer group.

A plan is one JSON record keyed by the pipeline name on the compacted ``<pipeline>.rollout`` topic.
Every change writes a new record whose ``generation`` is one more than the plan it replaces; readers
apply the first record of each generation and ignore any later one with the same or a lower number,
so two writers racing (an operator and the guard, or two guards during a rebalance) cannot make two
workers apply different plans.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PLAN_SCHEMA_VERSION = 1


class RolloutMode(str, Enum):
    """How the candidate meets traffic."""

    NONE = "none"          # champion only
    SHADOW = "shadow"      # the candidate scores a sample beside the champion; outputs to the mirror topic
    CANARY = "canary"      # a fixed share of entity keys is served by the candidate
    GUARDED = "guarded"    # canary in steps, each judged against the champion; a failure rolls back


class RolloutState(str, Enum):
    """Where a plan stands."""

    ACTIVE = "active"            # the candidate gets traffic as the mode says
    PROMOTED = "promoted"        # the candidate became the champion
    ROLLED_BACK = "rolled_back"  # the candidate was taken out (failed analysis, or an operator)
    ABORTED = "aborted"          # too many inconclusive analyses: taken out without a verdict
    STEADY = "steady"            # no rollout: the champion serves everything


TERMINAL_STATES = frozenset({RolloutState.PROMOTED, RolloutState.ROLLED_BACK, RolloutState.ABORTED,
                             RolloutState.STEADY})


class RolloutPlan(BaseModel):
    """One pipeline's rollout, as every worker applies it.

    Attributes:
        pipeline: Pipeline name (also the record key).
        generation: Bumped by one on every change; the first record of a generation wins.
        plan_id: Names one rollout from start to end; salts the key split, so each rollout exposes a
            different slice of keys while its own steps only ever add keys.
        champion: Version that serves every key not given to the candidate.
        candidate: Version under trial ('' when none).
        mode: How the candidate meets traffic.
        state: Where the plan stands; only ``active`` routes anything to the candidate.
        weight: Percent of entity keys the candidate serves (canary, guarded).
        mirror_rate: Share of events the candidate also scores beside the champion, outputs to the
            mirror topic (shadow: the whole point; guarded: the paired score comparison).
        steps: Guarded step weights in percent, increasing.
        step: Index into ``steps`` of the current step.
        step_started_ms: When the current step (or canary weight) began.
        inconclusive: Consecutive inconclusive analyses of the current step.
        started_ms: When the rollout started.
        updated_ms: When this record was written.
        reason: Why this generation exists (who changed what).
        actor: ``cli`` (an operator) or ``guard`` (an automatic decision).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = PLAN_SCHEMA_VERSION
    pipeline: str = Field(min_length=1)
    generation: int = Field(ge=0)
    plan_id: str = ""
    champion: str = Field(min_length=1, pattern=r"^[0-9]+$")
    candidate: str = Field("", pattern=r"^([0-9]+)?$")
    mode: RolloutMode = RolloutMode.NONE
    state: RolloutState = RolloutState.STEADY
    weight: float = Field(0.0, ge=0.0, le=100.0)
    mirror_rate: float = Field(0.0, ge=0.0, le=1.0)
    steps: tuple[float, ...] = ()
    step: int = Field(0, ge=0)
    step_started_ms: int = 0
    inconclusive: int = Field(0, ge=0)
    started_ms: int = 0
    updated_ms: int = 0
    reason: str = ""
    actor: str = "cli"

    @model_validator(mode="after")
    def _consistent(self) -> "RolloutPlan":
        if self.state == RolloutState.ACTIVE:
            if not self.candidate:
                raise ValueError("an active rollout needs a candidate")
            if self.candidate == self.champion:
                raise ValueError(f"candidate {self.candidate} is already the champion")
            if self.mode == RolloutMode.NONE:
                raise ValueError("an active rollout needs a mode")
        if self.steps:
            if any(not 0 < w <= 100 for w in self.steps) or list(self.steps) != sorted(set(self.steps)):
                raise ValueError(f"steps must increase within (0, 100], got {list(self.steps)}")
            if self.step >= len(self.steps):
                raise ValueError(f"step {self.step} is past the last of {len(self.steps)} steps")
        return self

    # -- what a worker asks -------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """True while the candidate gets traffic."""
        return self.state == RolloutState.ACTIVE

    @property
    def candidate_weight(self) -> float:
        """Percent of keys served by the candidate now (0 unless an active canary or guarded plan)."""
        if not self.active or self.mode not in (RolloutMode.CANARY, RolloutMode.GUARDED):
            return 0.0
        return self.weight

    @property
    def candidate_mirror_rate(self) -> float:
        """Share of events the candidate also scores beside the champion now."""
        if not self.active or self.mode == RolloutMode.CANARY:
            return 0.0
        return 1.0 if self.mode == RolloutMode.SHADOW and self.mirror_rate == 0.0 else self.mirror_rate

    def serving_versions(self) -> tuple[str, ...]:
        """The versions that must stay loaded for this plan."""
        return (self.champion, self.candidate) if self.active else (self.champion,)

    # -- changes: each returns the next generation --------------------------------------------
    def successor(self, reason: str, actor: str, **changes: Any) -> "RolloutPlan":
        """The next generation with ``changes`` applied (validated)."""
        now = now_ms()
        data = {**self.model_dump(), **changes, "generation": self.generation + 1, "updated_ms": now,
                "reason": reason, "actor": actor}
        return RolloutPlan.model_validate(data)

    def to_bytes(self) -> bytes:
        """The record value."""
        return orjson.dumps(self.model_dump(mode="json"))


class PlanRecordError(ValueError):
    """A record on the plan topic that is not a valid plan (it is skipped, never applied)."""


def parse_plan(value: bytes | None) -> RolloutPlan:
    """A plan from a record value; raises :class:`PlanRecordError` saying what is wrong."""
    if value is None:
        raise PlanRecordError("tombstone")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PlanRecordError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PlanRecordError(f"expected an object, got {type(data).__name__}")
    if data.get("schema_version") != PLAN_SCHEMA_VERSION:
        raise PlanRecordError(f"unknown schema_version {data.get('schema_version')!r}")
    try:
        return RolloutPlan.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}" for e in exc.errors())
        raise PlanRecordError(problems) from None


def steady_plan(pipeline: str, champion: str, generation: int = 0, reason: str = "initial champion") -> RolloutPlan:
    """A plan with no rollout: ``champion`` serves everything."""
    now = now_ms()
    return RolloutPlan(pipeline=pipeline, generation=generation, champion=champion, state=RolloutState.STEADY,
                       mode=RolloutMode.NONE, updated_ms=now, started_ms=now, reason=reason)


def now_ms() -> int:
    """Wall-clock milliseconds (plans are read by other machines)."""
    return int(time.time() * 1000)
