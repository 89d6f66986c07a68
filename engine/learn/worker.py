"""Runs a built learner as a faust worker until SIGTERM/SIGINT (or for a bounded duration)."""

from __future__ import annotations

import logging
import os
import signal
import threading

import faust

from engine.learn.app import LearnRuntime

log = logging.getLogger("streaminfer.learn")


def run_learner(runtime: LearnRuntime, log_level: str = "INFO", duration_s: float | None = None) -> int:
    """Serve metrics, restore state, then consume until stopped; returns the exit code.

    Args:
        runtime: From :func:`engine.learn.app.build_learn_app`.
        log_level: faust's log level (our own logging is configured by the caller and kept).
        duration_s: Stop gracefully (as on SIGTERM) after this many seconds; ``None`` runs until a signal.
    """
    settings = runtime.settings
    runtime.metrics.serve_http(settings.metrics.host, settings.metrics.port)
    statuses = runtime.restore()
    runtime.core.refresh_gauges()  # a restored learner shows its sample counts before the first record
    log.info("learner %s starting (state: %s)", settings.app_id, statuses)
    worker = faust.Worker(runtime.app, loglevel=log_level, quiet=True, override_logging=False,
                          redirect_stdouts=False)
    worker.spinner = None  # a terminal spinner has no place in service logs
    # faust warns on every batch whose table writes exceed 100 buffered changelog records: that is its
    # normal back-pressure, not a fault; lag is exported as a metric instead.
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    if duration_s:
        timer = threading.Timer(duration_s, os.kill, (os.getpid(), signal.SIGTERM))
        timer.daemon = True
        timer.start()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        runtime.datadir.cleanup()
    return 0
