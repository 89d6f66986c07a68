"""A contender process: started in its own session with its log in a file, stopped by SIGTERM, sampled
while it runs until its output reaches a count, a time cap passes, or it exits."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.bench.process_stats import ProcessTreeSampler, ServerCpu, TreeSample

#: How often progress and CPU are sampled while a contender runs.
SAMPLE_INTERVAL_S = 0.1


@dataclass(frozen=True)
class ProgressSample:
    """Output count, contender CPU/RSS and server CPU at one moment (``at`` monotonic, ``wall`` epoch s)."""

    at: float
    wall: float
    count: int
    tree: TreeSample
    servers: dict[str, float]


@dataclass
class Progress:
    """Samples of one watched run and how it ended."""

    samples: list[ProgressSample] = field(default_factory=list)
    reached: bool = False
    timed_out: bool = False
    exited: int | None = None

    def window(self) -> tuple[ProgressSample, ProgressSample] | None:
        """First sample with output and the last sample: the steady-state window (start-up excluded).

        A run so short that its first output and its end fall in one sample interval gets the whole
        run instead (start-up included: an overestimate, only for tiny runs).
        """
        started = next((s for s in self.samples if s.count > 0), None)
        if started is None:
            return None
        if started is self.samples[-1]:
            started = self.samples[0]
        return (started, self.samples[-1]) if started is not self.samples[-1] else None

    def cpu_s_per_1k(self) -> float | None:
        """Contender CPU-seconds per 1,000 events over the window."""
        window = self.window()
        if window is None or window[1].count <= window[0].count:
            return None
        first, last = window
        return (last.tree.cpu_s - first.tree.cpu_s) / ((last.count - first.count) / 1000.0)

    def server_cpu_s_per_1k(self) -> dict[str, float]:
        """Broker/Triton CPU-seconds per 1,000 events over the window."""
        window = self.window()
        if window is None or window[1].count <= window[0].count:
            return {}
        first, last = window
        thousands = (last.count - first.count) / 1000.0
        return {name: round((last.servers[name] - first.servers[name]) / thousands, 4)
                for name in last.servers if name in first.servers}


class ContenderProcess:
    """One running contender.

    Args:
        argv: Command line.
        env: Environment.
        log_path: stdout and stderr go here.
    """

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        with log_path.open("ab") as log:
            # Own session: a supervisor's workers can be killed as a group if SIGTERM is ignored.
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.started = time.monotonic()
        self.sampler = ProcessTreeSampler(self.proc.pid)

    def watch(self, count: Callable[[], int], expected: int, cap_s: float,
              servers: ServerCpu | None = None) -> Progress:
        """Sample until ``count()`` reaches ``expected``, ``cap_s`` passes, or the process exits."""
        progress = Progress()
        deadline = time.monotonic() + cap_s
        while True:
            now = time.monotonic()
            tree = self.sampler.sample()
            done = count()
            progress.samples.append(ProgressSample(now, time.time(), max(done, 0), tree,
                                                   servers.cpu_s() if servers else {}))
            if done >= expected:
                progress.reached = True
                return progress
            if self.proc.poll() is not None:
                progress.exited = self.proc.returncode
                return progress
            if now >= deadline:
                progress.timed_out = True
                return progress
            time.sleep(SAMPLE_INTERVAL_S)

    def stop(self, grace_s: float = 60.0) -> int:
        """SIGTERM (the engine drains and commits), then SIGKILL to the group after ``grace_s``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.sampler.sample()
        return self.proc.returncode

    def log_tail(self, lines: int = 5) -> str:
        """Last lines of the log, for error notes."""
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])
