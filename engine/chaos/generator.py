"""The run's input: ``streaminfer generate events --pipeline <the run's pipeline>`` as a child process.

A separate process on purpose: its own idempotent producer must live through the broker kill like
any upstream service would, and what it fails to deliver shows up as inputs the invariant never
expected (the input positions are read back from the topic, not assumed).

``generate events`` for every pipeline, fraud included: ``generate fraud`` only adds delayed labels and
a warm-up of the per-card velocity features, which matter to the learning side's drift detectors,
not to delivery: a chaos run serves, runs no learner, and its invariant never reads a score.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


class GeneratorProcess:
    """``streaminfer generate events --pipeline <pipeline>`` to one topic, logging to ``log_path``.

    Args:
        pipeline: The run's private pipeline YAML: its plugin makes the events, its Kafka section
            names the broker (the private stack's), so the generator needs no flag or variable of its own.
        topic: The input topic.
        count: Valid events.
        rate: Events per second.
        malformed: Malformed records interleaved (each one extra input record).
        log_path: stdout and stderr of the process.
        seed: Generator seed.
    """

    def __init__(self, pipeline: Path, topic: str, count: int, rate: float, malformed: int, log_path: Path,
                 seed: int = 7) -> None:
        self.argv = [sys.executable, "-m", "engine.cli.main", "generate", "events", "--pipeline", str(pipeline),
                     "--count", str(count), "--rate", f"{rate:g}", "--topic", topic, "--malformed", str(malformed),
                     "--seed", str(seed)]
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "GeneratorProcess":
        """Start it in its own process group."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=dict(os.environ), start_new_session=True)
        return self

    def running(self) -> bool:
        """True until it exits."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Its exit code once it exited."""
        return None if self.proc is None else self.proc.poll()

    def wait(self, timeout_s: float) -> int:
        """Wait for it to exit; returns the exit code (``subprocess.TimeoutExpired`` on timeout)."""
        assert self.proc is not None, "not started"
        return self.proc.wait(timeout=timeout_s)

    def stop(self) -> None:
        """Teardown: SIGTERM its group, SIGKILL after 10 s (it has nothing to drain that matters then)."""
        if not self.running():
            return
        for signum, grace_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, signum)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace_s
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not self.running():
                return

    def log_tail(self, chars: int = 1500) -> str:
        """The end of its log (error messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
