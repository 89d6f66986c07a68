"""``streaminfer serve --pipeline fraud`` — the hot path worker (``--workers N`` runs N in one group)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import typer

from engine.cli.errors import clear_errors
from engine.config.pipeline import load_pipeline


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the top-level app."""
    app.command("serve")(serve)


@clear_errors
def serve(
    pipeline: str = typer.Option("fraud", "--pipeline", "-p", help="Shipped pipeline name or a YAML path."),
    instance: str = typer.Option(None, "--instance", help="Stable worker id (transactional.id suffix). Default: 0."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes in the consumer group."),
    delivery: str = typer.Option(None, "--delivery", help="exactly-once | at-least-once (overrides config)."),
    metrics_port: int = typer.Option(None, "--metrics-port", help="Prometheus port (0 = off)."),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Consume, micro-batch into Triton and publish scores exactly-once until SIGTERM."""
    import threading

    # Catch SIGTERM from the very start: one that lands while the worker is still starting up
    # must also end in a clean exit 0, not the default kill.
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
    overrides = {"kafka.delivery": delivery, "metrics.port": metrics_port}
    settings = load_pipeline(pipeline, **overrides)  # validate before forking anything
    if workers > 1:
        raise typer.Exit(_run_workers(pipeline, workers, delivery, settings.metrics.port, log_level))
    from engine.logging_setup import configure_logging
    from engine.serve.factory import build_worker

    configure_logging(log_level)
    worker = build_worker(settings, instance or "0", stop_requested=stop_requested)
    worker.install_signal_handlers()
    raise typer.Exit(worker.run())


def _run_workers(pipeline: str, workers: int, delivery: str | None, metrics_port: int, log_level: str) -> int:
    """Supervise N worker processes (instances 0..N-1, metrics on consecutive ports); SIGTERM stops all."""
    procs = []
    for index in range(workers):
        argv = [sys.executable, "-m", "engine.cli.main", "serve", "--pipeline", pipeline, "--instance", str(index),
                "--log-level", log_level, "--metrics-port", str(metrics_port + index if metrics_port else 0)]
        if delivery:
            argv += ["--delivery", delivery]
        procs.append(subprocess.Popen(argv, env=dict(os.environ)))

    def forward(signum, _frame) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while any(proc.poll() is None for proc in procs):
        time.sleep(0.2)
    return max(proc.returncode or 0 for proc in procs)
