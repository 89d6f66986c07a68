"""Small pieces every demo part shares: waiting for a worker to own partitions, a Live stand-in."""

from __future__ import annotations

import subprocess
import time

from engine.observe.scrape import scrape


def wait_for_assignment(worker: subprocess.Popen, url: str, timeout_s: float = 60.0) -> None:
    """Start the load only once the worker owns partitions: start-up is not what we measure."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and worker.poll() is None:
        snap = scrape(url)
        if snap is not None and snap.assigned_partitions > 0:
            return
        time.sleep(0.2)


class NoLive:
    """Stand-in for rich.Live when stdout is not a terminal (CI logs): frames are printed instead."""

    def __enter__(self) -> "NoLive":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, _renderable) -> None:
        """Nothing: the caller prints a frame every few seconds."""
