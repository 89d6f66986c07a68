"""``streaminfer top`` — attach the live terminal view to a running serve worker's /metrics (and, with
``--samples``, follow its output topic for a few live records)."""

from __future__ import annotations

import time

import typer

from engine.cli.errors import clear_errors


def register(app: typer.Typer) -> None:
    """Add ``top`` to the top-level app."""
    app.command("top")(top)


@clear_errors
def top(
    pipeline: str = typer.Option("fraud", "--pipeline", "-p", help="Shipped pipeline name or a YAML path."),
    metrics_url: str = typer.Option(None, "--metrics-url",
                                    help="A worker's /metrics. Default: 127.0.0.1 at the pipeline's metrics.port."),
    samples: bool = typer.Option(True, "--samples/--no-samples", help="Show live output records of the pipeline."),
    seconds: float = typer.Option(0.0, "--seconds", min=0.0, help="Stop after this long (0 = until Ctrl-C)."),
    interval: float = typer.Option(1.0, "--interval", min=0.1, max=60.0),
) -> None:
    """Throughput, batch size, latency percentiles, dead letters and breaker state, refreshed live."""
    import orjson
    from rich.live import Live

    from engine.config.pipeline import load_pipeline
    from engine.observe.live_view import LiveState, render
    from engine.observe.scrape import scrape
    from engine.observe.tail import TopicTail
    from engine.pipeline.loader import load_plugin

    settings = load_pipeline(pipeline)
    plugin = load_plugin(settings.plugin, settings.plugin_options)
    url = metrics_url or f"http://127.0.0.1:{settings.metrics.port}/metrics"
    state = LiveState(summarize=plugin.summarize_output, unit=f"{settings.name} outputs")
    tail = None
    if samples:
        def keep(message) -> None:
            if len(state.samples) < 3 or message.offset() % 97 == 0:
                state.samples.append(orjson.loads(message.value()))

        tail = TopicTail(settings.kafka.bootstrap_servers, settings.topics.output, keep, "top").start()
    title = f"streaminfer top — {settings.name} — {url}"
    deadline = time.monotonic() + seconds if seconds else float("inf")
    try:
        with Live(render(state, title=title), refresh_per_second=4) as live:
            while time.monotonic() < deadline:
                snap = scrape(url)
                state.add(snap)
                state.notes = [f"[yellow]no answer from {url}[/]"] if snap is None else []
                live.update(render(state, title=title))
                time.sleep(interval)
    finally:
        if tail is not None:
            tail.stop()
