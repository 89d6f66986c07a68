"""What an operator (``streaminfer models ...``) does to a rollout: start, re-weight, promote, roll back.

Every change reads the plan topic, writes the next generation, reads it back (a racing change wins
or loses as a whole) and then writes the decision to the audit topic. Starting a rollout first loads
the candidate into Triton beside the champion; a candidate that does not load is refused with
Triton's reason and the champion keeps serving.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from engine.config.pipeline import PipelineSettings
from engine.errors import ConfigError, ModelRepositoryError
from engine.inference.model_control import ModelControl
from engine.rollout.plan import RolloutMode, RolloutPlan, RolloutState, now_ms, steady_plan
from engine.rollout.store import PlanLog, PlanWriter, audit_record, read_plan_log


@dataclass(frozen=True)
class RolloutTarget:
    """Where one pipeline's rollout lives: Kafka, its topics, Triton."""

    settings: PipelineSettings

    @property
    def plan_topic(self) -> str:
        return self.settings.rollout.plan_topic_for(self.settings.name)

    def read(self, timeout_s: float = 15.0) -> PlanLog:
        """The plan topic as of now."""
        kafka = self.settings.kafka
        return read_plan_log(kafka.bootstrap_servers, self.plan_topic, timeout_s, kafka.client_security())

    def writer(self) -> PlanWriter:
        kafka = self.settings.kafka
        return PlanWriter(kafka.bootstrap_servers, self.plan_topic, self.settings.rollout.audit_topic,
                          kafka.client_security())

    def control(self) -> ModelControl:
        return ModelControl(self.settings.triton.http_url)


def serving_champion(target: RolloutTarget, plan: RolloutPlan | None) -> str:
    """The version that serves now: the plan's champion, else the configured version, else the newest
    version Triton has ready (what workers without a plan ask for)."""
    if plan is not None:
        return plan.champion
    configured = target.settings.triton.model_version
    if configured:
        return configured
    ready = target.control().ready_versions(target.settings.triton.model_name)
    if not ready:
        raise ConfigError(f"Triton has no version of {target.settings.triton.model_name!r} ready and no rollout "
                          f"plan names a champion; run `streaminfer models build {target.settings.name}`")
    return ready[-1]


def pin_champion(target: RolloutTarget, reason: str = "champion pinned before a new version loads") -> RolloutPlan:
    """The plan in force, writing a steady plan for the serving version first when there is none, so
    that a newly loaded version never starts serving because it is the newest."""
    plan_log = target.read()
    if plan_log.plan is not None:
        return plan_log.plan
    plan = steady_plan(target.settings.name, serving_champion(target, None), reason=reason)
    return target.writer().write_checked(plan, audit_record(plan, "pinned"))


def load_serving(target: RolloutTarget, versions: tuple[str, ...]) -> None:
    """Load exactly ``versions`` into Triton (the champion stays ready whatever happens to the others).

    Raises:
        ModelRepositoryError: A version did not load; the message names it and Triton's reason.
    """
    name = target.settings.triton.model_name
    control = target.control()
    repository = _repository()
    on_disk = {str(v) for v in ModelControl.versions_on_disk(repository, name)} if repository else set()
    missing = [v for v in versions if on_disk and v not in on_disk]
    if missing:
        raise ModelRepositoryError(f"{name!r} has no version {', '.join(missing)} in the model repository "
                                   f"(versions: {sorted(on_disk, key=int)})")
    try:
        control.load_versions(name, list(versions))
    except ModelRepositoryError:
        states = control.version_states(name)
        broken = {v: states.get(v, ("", "not in Triton's index"))[1] for v in versions
                  if states.get(v, ("",))[0] != "READY"}
        ready = control.ready_versions(name)
        why = "; ".join(f"version {v}: {reason.strip().splitlines()[0] if reason.strip() else 'not ready'}"
                        for v, reason in broken.items())
        raise ModelRepositoryError(f"Triton could not load {name!r} {why}. Still serving: versions {ready}") from None


def _repository():
    from engine.stack.settings import load_stack_settings

    try:
        return load_stack_settings().model_repository
    except Exception:  # noqa: BLE001 — a remote Triton: its repository is not on this machine
        return None


def start(target: RolloutTarget, candidate: str, mode: RolloutMode, weight: float | None = None,
          mirror_rate: float | None = None, load: bool = True) -> RolloutPlan:
    """Start a rollout of ``candidate`` (or change the weight of the running canary of it).

    Raises:
        ConfigError: Another rollout is active, the candidate is the champion, or the options do not
            fit the mode.
        ModelRepositoryError: The candidate does not load (the champion keeps serving).
    """
    s = target.settings
    analysis = s.rollout.analysis
    plan_log = target.read()
    current = plan_log.plan
    champion = serving_champion(target, current)
    if candidate == champion:
        raise ConfigError(f"version {candidate} is already {s.name!r}'s champion")
    if current is not None and current.active:
        if current.candidate == candidate and current.mode == mode == RolloutMode.CANARY and weight is not None:
            plan = current.successor(f"operator set the canary weight to {weight:g}%", "cli", weight=weight,
                                     step_started_ms=now_ms())
            return target.writer().write_checked(plan, audit_record(plan, "weight_changed"))
        raise ConfigError(f"a {current.mode.value} rollout of version {current.candidate} is active on {s.name!r}; "
                          f"`streaminfer models promote {s.name}` or `models rollback {s.name}` first")
    if mode == RolloutMode.NONE:
        raise ConfigError("mode must be shadow, canary or guarded")
    if mode == RolloutMode.CANARY and weight is None:
        raise ConfigError("a canary needs --weight (percent of entity keys, 0 < P ≤ 100)")
    if mode != RolloutMode.CANARY and weight is not None:
        raise ConfigError(f"--weight is for canary rollouts; a {mode.value} rollout takes its weights from "
                          "rollout.analysis.steps (guarded) or serves none (shadow)")
    if weight is not None and not 0 < weight <= 100:
        raise ConfigError(f"--weight must be in (0, 100], got {weight:g}")
    if current is None:
        # Pin the champion before the candidate loads: from then on "newest" is the candidate.
        current = pin_champion(target)
    if load:
        load_serving(target, (champion, candidate))
    now = now_ms()
    fields = {"mode": mode, "state": RolloutState.ACTIVE, "candidate": candidate, "champion": champion,
              "plan_id": f"{s.name}-{candidate}-{secrets.token_hex(3)}", "started_ms": now, "step_started_ms": now,
              "step": 0, "inconclusive": 0, "steps": (), "weight": 0.0, "mirror_rate": 0.0}
    if mode == RolloutMode.SHADOW:
        fields["mirror_rate"] = 1.0 if mirror_rate is None else mirror_rate
    elif mode == RolloutMode.CANARY:
        fields["weight"], fields["mirror_rate"] = weight, mirror_rate or 0.0
    else:
        fields["steps"], fields["weight"] = tuple(analysis.steps), analysis.steps[0]
        fields["mirror_rate"] = analysis.mirror_rate if mirror_rate is None else mirror_rate
    reason = f"operator started a {mode.value} rollout of version {candidate} against {champion}"
    if current is None:
        plan = RolloutPlan(pipeline=s.name, generation=0, updated_ms=now, reason=reason, actor="cli", **fields)
    else:
        plan = current.successor(reason, "cli", **fields)
    return target.writer().write_checked(plan, audit_record(plan, "started"))


def finish(target: RolloutTarget, promote: bool, reason: str = "", actor: str = "cli",
           analysis: dict | None = None) -> RolloutPlan:
    """Promote the active candidate to champion, or roll it back; the other version is unloaded from
    Triton only when nothing routes to it any more (left loaded: a worker may still hold a batch).

    Raises:
        ConfigError: No rollout is active.
    """
    plan_log = target.read()
    current = plan_log.plan
    s = target.settings
    if current is None or not current.active:
        state = "no rollout plan" if current is None else f"the plan is {current.state.value}"
        raise ConfigError(f"no active rollout on {s.name!r} ({state}); see `streaminfer models status {s.name}`")
    candidate = current.candidate
    if promote:
        reason = reason or f"operator promoted version {candidate} over {current.champion}"
        plan = current.successor(reason, actor, state=RolloutState.PROMOTED, champion=candidate, candidate="",
                                 weight=0.0, mirror_rate=0.0)
        decision = "promoted"
    else:
        reason = reason or f"operator rolled version {candidate} back; {current.champion} serves everything"
        plan = current.successor(reason, actor, state=RolloutState.ROLLED_BACK, candidate="", weight=0.0,
                                 mirror_rate=0.0)
        decision = "rolled_back"
    record = audit_record(plan, decision, analysis, plan_log.rollout_stats(current.plan_id))
    record["candidate"] = candidate
    record["mode"] = current.mode.value
    return target.writer().write_checked(plan, record)
