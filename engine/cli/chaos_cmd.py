"""``streaminfer chaos`` — N events of one pipeline (``--pipeline``, default fraud) through ``serve``
under a schedule of faults, then the invariant; ``--soak-minutes M`` runs at a constant rate and reports
worker RSS over time instead.

Not part of ``make test``: it kills the stack's broker and Triton. Point it at a stack of its own
(``STREAMINFER_STACK_*``) when someone else uses the default one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from engine.cli.errors import clear_errors


def register(app: typer.Typer) -> None:
    """Add ``chaos`` to the top-level app."""
    app.command("chaos")(chaos)


@clear_errors
def chaos(
    pipeline: str = typer.Option("fraud", "--pipeline", "-p", help="Pipeline under test: a shipped name "
                                 "(fraud, recs) or a YAML path. Its plugin makes the events, its "
                                 "triton.model_name must be READY."),
    events: int = typer.Option(None, "--events", "-n", min=1, help="Valid events (default 1,000,000)."),
    rate: float = typer.Option(None, "--rate", min=1.0, help="Generator events per second (default: fraud "
                               "5,000, recs 1,000, any other pipeline 1,000)."),
    malformed: int = typer.Option(200, "--malformed", min=0, help="Malformed records (answered by dead letters)."),
    faults: str = typer.Option(None, "--faults", help="Schedule, kind@fraction,... (default: "
                               "kill@0.1,scale-out@0.2,broker@0.3,zombie@0.45,triton@0.6,scale-in@0.75,"
                               "kill@0.9; 'none' for no faults). Kinds: kill, scale-out, broker, zombie, "
                               "triton, scale-in."),
    max_minutes: float = typer.Option(None, "--max-minutes", min=0.1,
                                      help="Bound of the run until every input is answered (default 30; "
                                      "soak: its minutes + 15); the final drain and checks have bounds of "
                                      "their own (under 10 min)."),
    soak_minutes: float = typer.Option(None, "--soak-minutes", min=0.1,
                                       help="Soak mode: a constant-rate generator for M minutes, one worker, "
                                       "RSS sampled every 10 s."),
    soak_faults: bool = typer.Option(False, "--soak-faults", help="Soak mode: also fire the fault schedule."),
    seed: int = typer.Option(7, "--seed", help="Generator seed."),
    work_dir: Path = typer.Option(None, "--work-dir", help="Run directories (pipeline YAML, logs) go under "
                                  "here (default: <stack home>/chaos)."),
    keep_topics: bool = typer.Option(False, "--keep-topics", help="Leave the run's topics on the broker."),
    json_path: Path = typer.Option(None, "--json", help="Also write the report as JSON here."),
) -> None:
    """Run events through `serve` while workers, the broker and Triton are killed; check exactly-once.

    Exit 0 only when every input was answered exactly once and in order and every fault had its
    expected outcome; 1 otherwise; 2 when the stack is not ready.
    """
    from rich.console import Console

    from engine.chaos.pipeline import redirecting_overrides
    from engine.chaos.report import render_report, write_json
    from engine.chaos.options import ChaosOptions, require_ready
    from engine.chaos.runner import ChaosRunner
    from engine.chaos.schedule import DEFAULT_SCHEDULE, parse_faults
    from engine.chaos.target import ChaosTarget
    from engine.errors import ConfigError
    from engine.stack.manager import LocalStack
    from engine.stack.settings import load_stack_settings

    redirected = redirecting_overrides(os.environ)
    if redirected:
        raise ConfigError(f"chaos writes its own pipeline; these variables would redirect its workers: "
                          f"{', '.join(redirected)} (unset them)")
    schedule = DEFAULT_SCHEDULE if faults is None else parse_faults(faults)
    target = ChaosTarget.load(pipeline)  # a bad pipeline fails here, before the stack is touched
    rate = target.default_rate if rate is None else rate
    if soak_minutes is not None:
        if events is not None:
            raise ConfigError("--events and --soak-minutes exclude each other (a soak's count is rate × seconds)")
        if faults is not None and not soak_faults:
            raise ConfigError("--faults in soak mode needs --soak-faults (a soak runs no faults by default)")
        events = max(1, round(rate * soak_minutes * 60))
        schedule = schedule if soak_faults else ()
        max_minutes = max_minutes if max_minutes is not None else soak_minutes + 15
    options = ChaosOptions(pipeline=pipeline, events=events or 1_000_000, rate=rate, malformed=malformed,
                           faults=schedule, max_minutes=max_minutes if max_minutes is not None else 30.0,
                           work_dir=work_dir, keep_topics=keep_topics, soak=soak_minutes is not None, seed=seed)
    # Piped output (logs, `tee`) would otherwise be squeezed to 80 columns and the table wrapped.
    console = Console() if sys.stdout.isatty() else Console(width=200)

    def say(line: str) -> None:
        console.print(line, highlight=False, markup=False)

    stack = LocalStack(load_stack_settings(), say=lambda line: say(f"stack: {line}"))
    require_ready(stack, target.model_name, pipeline)
    report = ChaosRunner(options, stack, say=say, target=target).run()
    render_report(report, console)
    if json_path:
        write_json(report, json_path)
        say(f"report → {json_path}")
    raise typer.Exit(130 if report.interrupted else 0 if report.ok else 1)
