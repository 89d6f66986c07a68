"""``streaminfer top`` — attach the live terminal view to a running serve worker's /metrics."""

from __future__ import annotations

import time

import typer

from engine.cli.errors import clear_errors


def register(app: typer.Typer) -> None:
    """Add ``top`` to the top-level app."""
    app.command("top")(top)


@clear_errors
def top(
    metrics_url: str = typer.Option("http://127.0.0.1:9464/metrics", "--metrics-url", help="A worker's /metrics."),
    seconds: float = typer.Option(0.0, "--seconds", min=0.0, help="Stop after this long (0 = until Ctrl-C)."),
    interval: float = typer.Option(1.0, "--interval", min=0.1, max=60.0),
) -> None:
    """Throughput, batch size, latency percentiles, dead letters and breaker state, refreshed live."""
    from rich.live import Live

    from engine.observe.live_view import LiveState, render
    from engine.observe.scrape import scrape

    state = LiveState()
    deadline = time.monotonic() + seconds if seconds else float("inf")
    with Live(render(state, title=f"streaminfer top — {metrics_url}"), refresh_per_second=4) as live:
        while time.monotonic() < deadline:
            snap = scrape(metrics_url)
            state.add(snap)
            if snap is None:
                state.notes = [f"[yellow]no answer from {metrics_url}[/]"]
            else:
                state.notes = []
            live.update(render(state, title=f"streaminfer top — {metrics_url}"))
            time.sleep(interval)
