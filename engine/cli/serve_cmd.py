"""``streaminfer serve --pipeline fraud`` — the hot path worker (``--workers N`` runs N in one group)."""

from __future__ import annotations

import logging
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
    instance: str = typer.Option(None, "--instance", help="Stable worker id (transactional.id suffix). Default: 0. "
                                 "With --workers N, the first of N consecutive numeric ids."),
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
        first = _first_instance(instance)
        raise typer.Exit(_run_workers(pipeline, range(first, first + workers), delivery, settings.metrics.port,
                                      log_level))
    from engine.logging_setup import configure_logging
    from engine.serve.factory import build_worker
    from engine.serve.worker import EXIT_PRODUCER_STUCK

    configure_logging(log_level)
    worker = build_worker(settings, instance or "0", stop_requested=stop_requested)
    worker.install_signal_handlers()
    code = worker.run()
    if code == EXIT_PRODUCER_STUCK:
        # A thread is still inside librdkafka: interpreter shutdown would destroy the producer under
        # it and hang. Nothing is left to save (nothing uncommitted may commit): leave at once.
        logging.shutdown()
        os._exit(code)
    raise typer.Exit(code)


def _first_instance(instance: str | None) -> int:
    """The first instance id of a ``--workers N`` group: ``--instance`` must then be a number."""
    if instance is None:
        return 0
    if not instance.isdigit():
        raise typer.BadParameter(f"with --workers, --instance must be a number (the first id), got {instance!r}",
                                 param_hint="--instance")
    return int(instance)


def _run_workers(pipeline: str, instances: range, delivery: str | None, metrics_port: int, log_level: str) -> int:
    """Supervise one worker process per instance id (metrics on consecutive ports); SIGTERM stops all.

    Each worker keeps its own stable transactional.id, so scaling out on a second host means giving it
    ids no other host uses (``--workers 2 --instance 2`` runs instances 2 and 3).
    """
    procs = []
    for position, index in enumerate(instances):
        argv = [sys.executable, "-m", "engine.cli.main", "serve", "--pipeline", pipeline, "--instance", str(index),
                "--log-level", log_level, "--metrics-port", str(metrics_port + position if metrics_port else 0)]
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
    # A worker killed by a signal has a negative code: report it as the shell would (128 + signal),
    # never as success.
    return max(code if code >= 0 else 128 - code for code in (proc.returncode for proc in procs))
