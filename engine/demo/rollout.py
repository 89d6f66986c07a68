"""The demo's rollout act: a guarded rollout of a second model version while the fraud stream runs.

The candidate is another version on disk (the newest one that is not the champion), or, when there is
none, a fresh export of the cached model build: the same recipe and data, so it should pass every step
and be promoted. Runs on a thread; the serve worker's guard does the judging (short demo steps come in
through :data:`DEMO_GUARD_ENV`). Domain-free: any pipeline with a model builder works.
"""

from __future__ import annotations

import threading

import orjson

from engine.config.pipeline import PipelineSettings
from engine.inference.model_control import ModelControl
from engine.pipeline.contract import PipelinePlugin
from engine.rollout import operator
from engine.rollout.plan import TERMINAL_STATES, RolloutMode, RolloutPlan

#: Short guarded steps for a one-minute demo (the shipped YAML keeps production-sized ones): the plan
#: the demo writes takes its steps from here, the serve worker's guard its thresholds.
DEMO_ANALYSIS = {"steps": [10, 50, 100], "step_duration_s": 6, "mirror_rate": 0.5, "max_error_rate": 0.05,
                 "max_inconclusive": 6}

#: The same, as the serve worker's environment.
DEMO_GUARD_ENV = {
    **{f"STREAMINFER_ROLLOUT__ANALYSIS__{key.upper()}": orjson.dumps(value).decode()
       for key, value in DEMO_ANALYSIS.items()},
    "STREAMINFER_ROLLOUT__REPORT_INTERVAL_S": "1",
}


def demo_settings(settings: PipelineSettings) -> PipelineSettings:
    """``settings`` with the demo's guarded steps and thresholds."""
    analysis = settings.rollout.analysis.model_copy(update={**DEMO_ANALYSIS, "steps": tuple(DEMO_ANALYSIS["steps"])})
    return settings.model_copy(update={"rollout": settings.rollout.model_copy(update={"analysis": analysis})})


class DemoRollout:
    """Prepares a candidate and rolls it out (guarded) partway into the run.

    Args:
        settings: The pipeline.
        plugin: Its plugin (builds a candidate when the repository has none).
        repository: The stack's model repository.
        say: Prints a line.
    """

    def __init__(self, settings: PipelineSettings, plugin: PipelinePlugin, repository, say) -> None:
        self.target = operator.RolloutTarget(demo_settings(settings))
        self.plugin = plugin
        self.repository = repository
        self.say = say
        self.champion = ""
        self.candidate = ""
        self.history: list[RolloutPlan] = []
        self.error = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def prepare(self) -> None:
        """Pin the serving champion, find or export a candidate, load both into Triton."""
        name = self.target.settings.triton.model_name
        plan = operator.pin_champion(self.target, reason="demo: champion pinned before the rollout")
        self.champion = plan.champion
        others = [str(v) for v in ModelControl.versions_on_disk(self.repository, name) if str(v) != self.champion]
        if others:
            self.candidate = others[-1]
            origin = "already on disk"
        else:
            build = self.plugin.build_model(self.repository)
            self.candidate = str(build.version)
            origin = "a fresh export of the cached model build"
        operator.load_serving(self.target, (self.champion, self.candidate))
        self.say(f"[dim]rollout candidate: {name} v{self.candidate} ({origin}); champion v{self.champion}[/]")

    def start(self, delay_s: float) -> None:
        """Start the guarded rollout after ``delay_s`` and follow it until it ends or :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, args=(delay_s,), name="demo-rollout", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following (the rollout itself goes on in the worker's guard)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def line(self) -> str | None:
        """The plan now, for the live view."""
        if not self.history:
            return f"guarded rollout of v{self.candidate} starts shortly" if self.candidate else None
        plan = self.history[-1]
        step = f" step {plan.step + 1}/{len(plan.steps)}" if plan.steps and plan.active else ""
        return (f"generation {plan.generation}: {plan.mode.value} {plan.state.value}{step}, champion v{plan.champion}"
                f"{f', candidate v{plan.candidate} at {plan.candidate_weight:g}%' if plan.active else ''} — "
                f"{plan.reason[:90]}")

    def summary(self) -> list[str]:
        """One line per plan generation the demo saw, then the outcome."""
        lines = [f"  gen {p.generation} {p.state.value:<11} {p.candidate_weight:>5g}%  ({p.actor}) {p.reason[:110]}"
                 for p in self.history]
        if self.error:
            lines.append(f"  [red]rollout: {self.error}[/]")
        return lines

    def _run(self, delay_s: float) -> None:
        if self._stop.wait(delay_s):
            return
        try:
            plan = operator.start(self.target, self.candidate, RolloutMode.GUARDED, load=False)
        except Exception as exc:  # noqa: BLE001 — the demo goes on without its rollout, and says why
            self.error = str(exc)
            return
        self.history.append(plan)
        while not self._stop.wait(1.0):
            try:
                current = self.target.read(timeout_s=5).plan
            except Exception as exc:  # noqa: BLE001 — a slow read: try again next second
                self.error = str(exc)
                continue
            if current is not None and current.generation != self.history[-1].generation:
                self.history.append(current)
            if current is not None and current.state in TERMINAL_STATES:
                return
