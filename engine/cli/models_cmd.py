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
        ModelControl(stack.triton_http_url).load(name)
        typer.echo(f"{name}: loaded into Triton at {stack.triton_grpc_url} (ready versions: "
                   f"{ModelControl(stack.triton_http_url).ready_versions(name)})")


def _metadata_metrics(version_dir) -> dict:
    """Training metrics recorded next to an exported version (metadata.json), if any."""
    import json

    try:
        return json.loads((version_dir / "metadata.json").read_text()).get("metrics", {})
    except (OSError, ValueError):
        return {}


@app.command("list")
@clear_errors
def list_models() -> None:
    """Models and versions on disk and what Triton has ready."""
    from engine.inference.model_control import ModelControl
    from engine.stack.settings import load_stack_settings

    stack = load_stack_settings()
    control = ModelControl(stack.triton_http_url)
    for model_dir in sorted(p for p in stack.model_repository.glob("*") if p.is_dir()):
        on_disk = ModelControl.versions_on_disk(stack.model_repository, model_dir.name)
        typer.echo(f"{model_dir.name}: on disk {on_disk}, ready {control.ready_versions(model_dir.name)}")
