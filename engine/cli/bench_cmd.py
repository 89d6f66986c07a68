"""``streaminfer bench`` — the engine against its Kafka and Triton ceilings and its peers."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from engine.cli.errors import clear_errors


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the top-level app."""
    app.command("bench")(bench)


@clear_errors
def bench(
    pipeline: str = typer.Option("fraud", "--pipeline", "-p",
                                 help="Shipped pipeline name or a YAML path: its plugin makes the events."),
    quick: bool = typer.Option(False, "--quick", help="About 100k events and short paced runs (a few minutes)."),
    events: int = typer.Option(None, "--events", min=1, help="Events pre-produced (default 1,000,000; quick 100,000)."),
    partitions: int = typer.Option(6, "--partitions", min=1, max=1024, help="Partitions of every bench topic."),
    json_path: Path = typer.Option(None, "--json", help="Write the figures as JSON here (chart goes next to it)."),
    chart: Path = typer.Option(None, "--chart", help="PNG chart path (default: next to --json, or the log dir)."),
    workers: list[int] = typer.Option([], "--workers", help="Also run the engine with N workers (repeatable)."),
    only: str = typer.Option(None, "--only", help="Comma-separated contenders to run (default: all)."),
    paced_seconds: float = typer.Option(None, "--paced-seconds", min=1.0, help="Length of each paced run."),
    keep_topics: bool = typer.Option(False, "--keep-topics", help="Leave the bench topics on the broker."),
    work_dir: Path = typer.Option(Path("bench-results"), "--work-dir", help="Contender logs go under here."),
) -> None:
    """Pre-produce N events, run each contender saturated and at 50% load, print the table.

    Contenders: kafka_ceiling, triton_ceiling, engine_eos, engine_alo, naive, faust. Events, keys,
    tensors and output records come from the pipeline's plugin (--pipeline fraud, recs, or a YAML);
    when an event is several model rows (recs), a rows/s column is added. Runs against the stack the
    environment names (STREAMINFER_STACK_* or STREAMINFER_KAFKA__/TRITON__ overrides).
    """
    from rich.console import Console

    from engine.bench.report import render_table, write_chart, write_json
    from engine.bench.runner import BenchRunner
    from engine.bench.settings import ALL_CONTENDERS, BenchOptions, load_target
    from engine.errors import ConfigError

    chosen = tuple(name.strip() for name in only.split(",") if name.strip()) if only else ALL_CONTENDERS
    overrides = {"events": events, "partitions": partitions, "contenders": chosen, "workers": tuple(workers),
                 "paced_seconds": paced_seconds, "keep_topics": keep_topics, "work_dir": work_dir}
    try:
        options = BenchOptions.quick(**overrides) if quick else BenchOptions(
            **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    # Piped output (CI logs, `tee`) would otherwise be squeezed to 80 columns and the table wrapped.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    runner = BenchRunner(options, load_target(pipeline), say=lambda line: console.print(line, highlight=False))
    report = runner.run()
    render_table(report, console)
    if json_path:
        write_json(report, json_path)
        console.print(f"figures → {json_path}")
    chart_path = chart or (json_path.with_suffix(".png") if json_path else runner.log_dir / "bench.png")
    write_chart(report, chart_path)
    console.print(f"chart → {chart_path}; contender logs → {runner.log_dir}")
    if any(row.error for row in report.rows):
        raise typer.Exit(1)
