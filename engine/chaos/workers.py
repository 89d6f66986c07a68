"""The serve workers of one chaos run, and which of them are meant to be running.

Instance 0 is the worker the kill and zombie faults hit and replace (same instance id, so the new
one fences the old one's transaction); scale-out adds one ``--workers 2 --instance 1`` supervisor
(instances 1 and 2), scale-in stops it. A worker a fault stops is *retired*: its exit is expected.
Any other exit is an engine failure the run must report.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.chaos.faults import ServeProcess


class WorkerPool:
    """Starts, names, retires and stops the run's ``serve`` processes.

    Args:
        pipeline: The run's pipeline YAML.
        log_dir: One log file per process started.
        env: Extra environment of every worker.
        factory: Builds a ServeProcess (tests pass a fake).
    """

    def __init__(self, pipeline: Path, log_dir: Path, env: dict[str, str] | None = None,
                 factory: Callable[[list[str], Path, dict[str, str]], ServeProcess] | None = None) -> None:
        self.pipeline = pipeline
        self.log_dir = log_dir
        self.env = env or {}
        self._factory = factory or (lambda args, log, env: ServeProcess(args, log, env))
        self.primary: ServeProcess | None = None
        self.scaled: ServeProcess | None = None
        self._started: list[tuple[str, ServeProcess]] = []
        self._retired: set[int] = set()
        self._counts: dict[str, int] = {}
        self._instances: dict[int, int] = {}
        self._roles: dict[int, str] = {}

    # -- starting -------------------------------------------------------------------------------
    def start_primary(self) -> ServeProcess:
        """Start a (new) instance 0; it becomes the primary."""
        self.primary = self._start("w0", ["--instance", "0"], instances=1)
        return self.primary

    def start_scale_out(self) -> ServeProcess:
        """Start instances 1 and 2 under one supervisor (``--workers 2 --instance 1``)."""
        self.scaled = self._start("w1-2", ["--workers", "2", "--instance", "1"], instances=2)
        return self.scaled

    def _start(self, base: str, args: list[str], instances: int) -> ServeProcess:
        # Incarnations are numbered so every process has its own name and log: w0.1, w0.2, ...
        self._counts[base] = self._counts.get(base, 0) + 1
        name = f"{base}.{self._counts[base]}"
        proc = self._factory(["--pipeline", str(self.pipeline), *args, "--metrics-port", "0"],
                             self.log_dir / f"worker-{name}.log", self.env)
        proc.start()
        self._started.append((name, proc))
        self._instances[id(proc)] = instances
        self._roles[id(proc)] = base
        return proc

    def replace(self, proc: ServeProcess) -> ServeProcess | None:
        """Start a process in ``proc``'s role (instance 0, or instances 1-2) if that role is vacant."""
        role = self._roles.get(id(proc))
        if role == "w0" and self.primary is None:
            return self.start_primary()
        if role == "w1-2" and self.scaled is None:
            return self.start_scale_out()
        return None

    # -- bookkeeping ----------------------------------------------------------------------------
    def name(self, proc: ServeProcess | None) -> str:
        """The process's name in the report (``w0.2``)."""
        for name, candidate in self._started:
            if candidate is proc:
                return name
        return "-"

    def retire(self, proc: ServeProcess) -> None:
        """Mark ``proc`` as meant to exit (a fault is about to stop it)."""
        self._retired.add(id(proc))
        if proc is self.primary:
            self.primary = None
        if proc is self.scaled:
            self.scaled = None

    def live(self) -> list[tuple[str, ServeProcess]]:
        """Processes meant to be running (not retired), with their names."""
        return [(name, proc) for name, proc in self._started if id(proc) not in self._retired]

    def unexpected_exits(self) -> list[tuple[str, ServeProcess]]:
        """Processes that exited although no fault stopped them; each is reported once (then retired)."""
        gone = [(name, proc) for name, proc in self.live() if not proc.running()]
        for _, proc in gone:
            self.retire(proc)
        return gone

    def running(self) -> list[tuple[str, ServeProcess]]:
        """Live processes that are actually running now."""
        return [(name, proc) for name, proc in self.live() if proc.running()]

    def worker_count(self) -> int:
        """Worker instances (group members) of the running processes: a supervisor counts its two."""
        return sum(self._instances.get(id(proc), 1) for _, proc in self.running())

    def rss_bytes(self) -> int:
        """Resident memory of every live worker process (supervisors and their children)."""
        return sum(proc.rss_bytes() for _, proc in self.live())

    # -- stopping -------------------------------------------------------------------------------
    def terminate_all(self, timeout_s: float) -> dict[str, int | None]:
        """SIGTERM every live process at once (they drain in parallel); exit code per name, None if it
        did not exit within ``timeout_s`` (it is then killed)."""
        live = self.live()
        for _, proc in live:
            self.retire(proc)

        def stop(proc: ServeProcess) -> int | None:
            try:
                return proc.terminate(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill9()
                return None

        with ThreadPoolExecutor(max_workers=max(1, len(live))) as pool:
            codes = list(pool.map(stop, [proc for _, proc in live]))
        return {name: code for (name, _), code in zip(live, codes)}

    def ensure_stopped_all(self) -> None:
        """Teardown: every process ever started is stopped (SIGCONT, SIGTERM, then SIGKILL)."""
        for _, proc in self._started:
            try:
                proc.ensure_stopped()
            except Exception:  # noqa: BLE001 — teardown goes on to the next process whatever happens
                pass

    def started(self) -> list[tuple[str, ServeProcess]]:
        """Every process started, in order, with its name."""
        return list(self._started)
