"""``streaminfer demo`` — the fraud then the recs pipeline live on the local real stack (what `make demo` runs)."""

from __future__ import annotations

import typer

from engine.cli.errors import clear_errors


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the top-level app."""
    app.command("demo")(demo)


@clear_errors
def demo(
    seconds: float = typer.Option(60.0, "--seconds", min=1.0, max=3600.0, help="How long the generator runs."),
    rate: float = typer.Option(1000.0, "--rate", min=1.0, help="Events per second offered."),
    malformed: int = typer.Option(20, "--malformed", min=0, help="Malformed records mixed in."),
    metrics_port: int = typer.Option(9464, "--metrics-port", min=1, max=65535),
    keep_stack: bool = typer.Option(False, "--keep-stack", help="Leave the stack running afterwards."),
    learn: bool = typer.Option(True, "--learn/--no-learn",
                               help="Run the learning side branch beside serve (fraud and recs)."),
    drift_to: float = typer.Option(1.0, "--drift-to", min=0.0, max=1.0, help="Drift knob after half the run."),
    recs_seconds: float = typer.Option(60.0, "--recs-seconds", min=0.0, max=3600.0,
                                       help="Then the recs pipeline's users for this long, with its learner "
                                            "(--learn) and the drift knob turned halfway (0 = skip)."),
    recs_rate: float = typer.Option(200.0, "--recs-rate", min=1.0, help="Ranking requests per second offered."),
    rollout: bool = typer.Option(True, "--rollout/--no-rollout",
                                 help="Roll a second fraud model version out (guarded) during the fraud run."),
) -> None:
    """Stack up, topics, model, serve + generator with a live view, summary, stack down."""
    from engine.demo.runner import DemoOptions, FraudDemo

    options = DemoOptions(seconds=seconds, rate=rate, malformed=malformed, metrics_port=metrics_port,
                          keep_stack=keep_stack, learn=learn, drift_to=drift_to, recs_seconds=recs_seconds,
                          recs_rate=recs_rate, rollout=rollout)
    raise typer.Exit(FraudDemo(options).run())
