"""``streaminfer models build|list`` — train/export into the versioned Triton repository, load into Triton."""

from __future__ import annotations

import typer

from engine.cli.errors import clear_errors

app = typer.Typer(help="Versioned Triton models: build, load, list.", no_args_is_help=True)


@app.command()
@clear_errors
def build(
    pipeline: str = typer.Argument("fraud", help="Pipeline whose model to build: a shipped name or a YAML path."),
    force: bool = typer.Option(False, "--force", help="Retrain even when a cached artifact exists."),
    load: bool = typer.Option(True, "--load/--no-load", help="Load the new version into the running Triton."),
) -> None:
    """Train if needed (cached by code+seed), export a new version, and load it into Triton."""
    from engine.config.pipeline import load_pipeline
    from engine.inference.model_control import ModelControl
    from engine.pipeline.loader import load_plugin
    from engine.stack.settings import load_stack_settings

    settings = load_pipeline(pipeline)
    plugin = load_plugin(settings.plugin, settings.plugin_options)
    stack = load_stack_settings()
    repository = stack.model_repository
    name = settings.triton.model_name
    existing = ModelControl.versions_on_disk(repository, name)
    if existing and not force:
        metrics = _metadata_metrics(repository / name / str(existing[-1]))
        typer.echo(f"{name}: version {existing[-1]} already in {repository} (use --force for a new one)")
    else:
        result = plugin.build_model(repository, force=force)
        if result.name != name:
            from engine.errors import ConfigError

            raise ConfigError(f"pipeline {settings.name!r} serves model {name!r} but its plugin built {result.name!r}")
        metrics = result.metrics
        source = "cached artifact" if result.from_cache else "trained now"
        typer.echo(f"{name}: exported version {result.version} ({source}) → {result.path}")
    for line in plugin.describe_metrics(metrics or {}):
        typer.echo(f"  {line}")
    if load:
        _load_built(settings, stack, name)


def _load_built(settings, stack, name: str) -> None:
    """Load a built model: the first version serves at once; a later one is loaded only as far as
    the rollout plan says (the serving champion is pinned first, so a new version never starts
    serving just because it is the newest — roll it out with ``models rollout``)."""
    from engine.errors import ConfigError
    from engine.inference.model_control import ModelControl
    from engine.rollout.operator import RolloutTarget, load_serving, pin_champion

    control = ModelControl(stack.triton_http_url)
    newest = ModelControl.versions_on_disk(stack.model_repository, name)[-1]
    serving = control.ready_versions(name)
    if not serving:
        control.load(name)
        typer.echo(f"{name}: loaded into Triton at {stack.triton_grpc_url} (ready versions: "
                   f"{control.ready_versions(name)})")
        return
    try:
        plan = pin_champion(RolloutTarget(settings))
    except ConfigError as exc:  # no plan topic: this pipeline has no rollouts, the newest serves
        typer.echo(f"{name}: {exc}; loading every version (the newest serves)")
        control.load(name)
        return
    load_serving(RolloutTarget(settings), plan.serving_versions())
    typer.echo(f"{name}: champion {plan.champion} keeps serving (ready versions: {control.ready_versions(name)}); "
               f"version {newest} is on disk — `streaminfer models rollout {settings.name} --candidate {newest} "
               f"--mode shadow|canary|guarded` to try it")


def _metadata_metrics(version_dir) -> dict:
    """Training metrics recorded next to an exported version (metadata.json), if any."""
    import json

    try:
        return json.loads((version_dir / "metadata.json").read_text()).get("metrics", {})
    except (OSError, ValueError):
        return {}


@app.command("list")
@clear_errors
def list_models(
    pipeline: str = typer.Argument("fraud", help="Pipeline: a shipped name or a YAML path."),
) -> None:
    """Versions in the repository, Triton's state of each, offline metrics and role in the rollout."""
    from engine.inference.model_control import ModelControl
    from engine.rollout.operator import RolloutTarget
    from engine.stack.settings import load_stack_settings

    settings = _settings(pipeline)
    target = RolloutTarget(settings)
    name = settings.triton.model_name
    repository = load_stack_settings().model_repository
    on_disk = [str(v) for v in ModelControl.versions_on_disk(repository, name)]
    states = target.control().version_states(name)
    plan = target.read().plan
    roles = {}
    if plan is not None:
        roles[plan.champion] = "champion"
        if plan.active:
            roles[plan.candidate] = "shadow" if plan.mode.value == "shadow" else "candidate"
    typer.echo(f"{name} ({settings.name}): repository {repository / name}")
    typer.echo(f"  {'version':>7}  {'triton':<12} {'role':<10} offline metrics")
    for version in sorted(set(on_disk) | set(states), key=lambda v: int(v) if v.isdigit() else -1):
        state, reason = states.get(version, ("not loaded", ""))
        where = "" if version in on_disk else " (not on disk)"
        metrics = _metrics_summary(_metadata_metrics(repository / name / version))
        typer.echo(f"  {version:>7}  {state:<12} {roles.get(version, '-'):<10} {metrics}{where}")
        if reason and state != "READY":
            typer.echo(f"           {reason.strip().splitlines()[0][:160]}")
    if plan is None:
        typer.echo("  no rollout plan: workers serve the configured version, else Triton's newest")


def _metrics_summary(metrics: dict) -> str:
    """The headline numbers of a version's metadata (held-out split first), in one short line."""
    held_out = metrics.get("test") or metrics.get("held_out") or {}
    if not isinstance(held_out, dict):
        return ""
    shown = [f"{key} {value:.4f}" for key, value in held_out.items()
             if isinstance(value, float) and key not in ("n_events",)][:3]
    return ", ".join(shown)


def _settings(pipeline: str):
    from engine.config.pipeline import load_pipeline

    return load_pipeline(pipeline)


@app.command()
@clear_errors
def rollout(
    pipeline: str = typer.Argument(..., help="Pipeline: a shipped name or a YAML path."),
    candidate: str = typer.Option(..., "--candidate", help="Version to roll out (a number in the repository)."),
    mode: str = typer.Option("guarded", "--mode", help="shadow | canary | guarded."),
    weight: float = typer.Option(None, "--weight", help="Canary: percent of entity keys the candidate serves."),
    mirror_rate: float = typer.Option(None, "--mirror-rate", min=0.0, max=1.0,
                                      help="Share of champion-served keys the candidate also scores (mirror topic)."),
) -> None:
    """Load the candidate beside the champion and start a rollout (or re-weight the running canary)."""
    from engine.errors import ConfigError
    from engine.rollout import operator
    from engine.rollout.plan import RolloutMode

    if not candidate.isdigit():
        raise ConfigError(f"--candidate must be a version number, got {candidate!r}")
    try:
        rollout_mode = RolloutMode(mode)
    except ValueError:
        raise ConfigError(f"--mode must be shadow, canary or guarded, got {mode!r}") from None
    plan = operator.start(operator.RolloutTarget(_settings(pipeline)), candidate, rollout_mode, weight, mirror_rate)
    typer.echo(_plan_line(plan))


@app.command()
@clear_errors
def promote(pipeline: str = typer.Argument(..., help="Pipeline: a shipped name or a YAML path.")) -> None:
    """Make the candidate the champion now (every worker switches at its next batch)."""
    from engine.rollout import operator

    typer.echo(_plan_line(operator.finish(operator.RolloutTarget(_settings(pipeline)), promote=True)))


@app.command()
@clear_errors
def rollback(pipeline: str = typer.Argument(..., help="Pipeline: a shipped name or a YAML path.")) -> None:
    """Take the candidate out now: the champion serves every key from each worker's next batch."""
    from engine.rollout import operator

    typer.echo(_plan_line(operator.finish(operator.RolloutTarget(_settings(pipeline)), promote=False)))


@app.command()
@clear_errors
def status(
    pipeline: str = typer.Argument(..., help="Pipeline: a shipped name or a YAML path."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of text."),
) -> None:
    """The plan, the step, the measurements of the running step against their thresholds, and exposure."""
    import orjson

    from engine.rollout.analysis import analyze
    from engine.rollout.operator import RolloutTarget

    settings = _settings(pipeline)
    plan_log = RolloutTarget(settings).read()
    plan = plan_log.plan
    if plan is None:
        if as_json:
            typer.echo(orjson.dumps({"plan": None}).decode())
        else:
            typer.echo(f"{settings.name}: no rollout plan (workers serve the configured or newest version)")
        return
    step = plan_log.step_stats(plan.plan_id, plan.step) if plan.plan_id else None
    exposure = plan_log.rollout_stats(plan.plan_id) if plan.plan_id else None
    analysis = analyze(step, settings.rollout.analysis) if step is not None and plan.active else None
    if as_json:
        typer.echo(orjson.dumps({
            "plan": plan.model_dump(mode="json"), "step_stats": step.to_json() if step else None,
            "analysis": analysis.to_json() if analysis else None,
            "exposure": {"events": exposure.candidate.events, "keys": exposure.keys_exposed,
                         "fallbacks": exposure.candidate.fallbacks} if exposure else None}).decode())
        return
    typer.echo(_plan_line(plan))
    typer.echo(f"  reason: {plan.reason} ({plan.actor})")
    if exposure is not None and (plan.candidate or exposure.candidate.routed):
        typer.echo(f"  exposure so far: {exposure.candidate.events} events and {exposure.keys_exposed} keys served "
                   f"by the candidate, {exposure.candidate.fallbacks} fell back to the champion")
    if step is not None and plan.active:
        c, k = step.champion, step.candidate
        typer.echo(f"  step {plan.step}: champion {c.events} events / {c.requests} requests / {c.errors} errors; "
                   f"candidate {k.events} events / {k.requests} requests / {k.errors} errors; "
                   f"{step.mirror.pairs} mirrored pairs")
    if analysis is not None:
        typer.echo(f"  analysis: {analysis.verdict.value} — {analysis.reason[:200]}")
        typer.echo(f"    {'check':<22} {'verdict':<13} {'value':>10} {'threshold':>10} {'samples':>8} {'need':>6}")
        for check in analysis.checks:
            value = "-" if check.value is None else f"{check.value:.4f}"
            threshold = f"{check.threshold:.4f}" if check.threshold == check.threshold and abs(check.threshold) != float("inf") else "-"
            typer.echo(f"    {check.name:<22} {check.verdict.value:<13} {value:>10} {threshold:>10} "
                       f"{check.samples:>8} {check.min_samples:>6}")


def _plan_line(plan) -> str:
    weight = f", {plan.candidate_weight:g}% of keys" if plan.candidate_weight else ""
    mirror = f", mirroring {plan.candidate_mirror_rate:.0%}" if plan.candidate_mirror_rate else ""
    step = f", step {plan.step + 1}/{len(plan.steps)}" if plan.steps and plan.active else ""
    candidate = f", candidate {plan.candidate}" if plan.candidate else ""
    return (f"{plan.pipeline}: generation {plan.generation}, {plan.state.value}, champion {plan.champion}{candidate} "
            f"({plan.mode.value}{weight}{mirror}{step})")


@app.command()
@clear_errors
def retrain(
    pipeline: str = typer.Argument(..., help="Pipeline: a shipped name or a YAML path."),
    max_events: int = typer.Option(200_000, "--max-events", min=100, help="Newest input records to read back."),
    max_labels: int = typer.Option(None, "--max-labels", min=100, help="Newest label records (default: as events)."),
    min_examples: int = typer.Option(1000, "--min-examples", min=1, help="Fewest joined labels worth training on."),
    timeout_s: float = typer.Option(120.0, "--timeout", min=1.0, help="Bound on reading Kafka (not on training)."),
    shadow: bool = typer.Option(False, "--shadow", help="Load the new version and start it in shadow mode."),
) -> None:
    """Train version N+1 from recent inputs and labels read back from Kafka; optionally shadow it.

    A retrained version is never promoted here: ``models rollout --mode guarded`` judges it first."""
    from engine.lifecycle.retrain import retrain as retrain_from_kafka
    from engine.pipeline.loader import load_plugin
    from engine.rollout import operator
    from engine.rollout.plan import RolloutMode
    from engine.stack.settings import load_stack_settings

    settings = _settings(pipeline)
    plugin = load_plugin(settings.plugin, settings.plugin_options)
    repository = load_stack_settings().model_repository
    result = retrain_from_kafka(settings, plugin, repository, max_events, timeout_s, max_labels=max_labels,
                                min_examples=min_examples)
    build = result.build
    typer.echo(f"{build.name}: version {build.version} trained on {result.joined} joined labels "
               f"({result.inputs} inputs from {result.topics[0]}, {result.labels} labels from {result.topics[1]}; "
               f"skipped {result.skipped_inputs} + {result.skipped_labels}"
               f"{'' if result.complete else '; the read timed out, trained on what arrived'}) → {build.path}")
    for line in plugin.describe_metrics(build.metrics or {}):
        typer.echo(f"  {line}")
    if shadow:
        plan = operator.start(operator.RolloutTarget(settings), str(build.version), RolloutMode.SHADOW)
        typer.echo(_plan_line(plan))
