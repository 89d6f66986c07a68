"""``streaminfer learn`` as a child process, observed through its Prometheus endpoint (tests, benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port nobody listens on right now (for a learner's metrics endpoint)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LearnerProcess:
    """``streaminfer learn`` as a child process, observed through its Prometheus endpoint.

    Args:
        pipeline: Pipeline YAML path (its ``.learn.yaml`` sibling configures the learner).
        log_path: Where the child's output goes.
        env: Extra environment (the state key...).
    """

    def __init__(self, pipeline: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        from engine.config.pipeline import load_pipeline

        self.pipeline = pipeline
        self.log_path = log_path
        self.env = env or {}
        # The learner labels every metric with its pipeline's name, as the child resolves it.
        self.pipeline_name = self.env.get("STREAMINFER_NAME") or load_pipeline(str(pipeline)).name
        self.port = free_port()
        self.proc: Any = None

    def start(self) -> LearnerProcess:
        """Launch; returns at once (use :meth:`wait_for`)."""
        import os
        import subprocess
        import sys

        self.log = open(self.log_path, "ab")  # noqa: SIM115 — closed in stop()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli.main", "learn", "--pipeline", str(self.pipeline),
             "--metrics-port", str(self.port), "--log-level", "WARNING"],
            env={**os.environ, **self.env}, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of ``/metrics`` as (name, sorted labels) → value; empty if not reachable."""
        import urllib.request

        from prometheus_client.parser import text_string_to_metric_families

        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2).read().decode()
        except OSError:
            return {}
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def value(self, name: str, **labels: str) -> float | None:
        """One sample (the ``pipeline`` label is implied)."""
        key = (name, tuple(sorted({"pipeline": self.pipeline_name, **labels}.items())))
        return self.samples().get(key)

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll ``predicate`` every 0.3 s; raise with the log tail if it stays false or the child dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"learner exited ({self.proc.returncode}) waiting for {what}:\n{self.log_tail()}")
            time.sleep(0.3)
        raise TimeoutError(f"learner: no {what} within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the child's output."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (graceful: final checkpoint); returns the exit code."""
        import signal

        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except Exception:  # noqa: BLE001 — a stuck child is killed, never left behind
            self.proc.kill()
            code = self.proc.wait(10)
        self.log.close()
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final checkpoint."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
