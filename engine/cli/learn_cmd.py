"""``streaminfer learn --pipeline fraud|recs|<yaml>`` — the learning side branch (faust app, own consumer
group); the pipeline plugin's ``learning`` spec picks the learner kind (per-event or ranking)."""

from __future__ import annotations

from pathlib import Path

import typer

from engine.cli.errors import clear_errors
from engine.config.pipeline import load_pipeline


def register(app: typer.Typer) -> None:
    """Add ``learn`` to the top-level app."""
    app.command("learn")(learn)


@clear_errors
def learn(
    pipeline: str = typer.Option("fraud", "--pipeline", "-p", help="Shipped pipeline name or a YAML path."),
    config: Path = typer.Option(None, "--config", help="Learn settings YAML (default: <pipeline>.learn.yaml)."),
    metrics_port: int = typer.Option(None, "--metrics-port", help="Prometheus port (0 = off)."),
    start_from: str = typer.Option(None, "--start-from", help="earliest | latest, for a brand-new group."),
    duration: float = typer.Option(None, "--duration", min=1, help="Stop gracefully after this many seconds."),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Join outputs with labels or feedback, watch for drift, train challengers, publish alerts — until SIGTERM."""
    from engine.learn.settings import load_learn_settings

    settings = load_pipeline(pipeline)
    learn_settings = load_learn_settings(pipeline, config, **{"metrics.port": metrics_port,
                                                              "stream.start_from": start_from})
    from engine.learn.app import build_learn_app
    from engine.learn.worker import run_learner
    from engine.logging_setup import configure_logging

    configure_logging(log_level)
    runtime = build_learn_app(settings, learn_settings)
    raise typer.Exit(run_learner(runtime, log_level, duration))
