"""Serve workers as child processes, and the faults a test or a chaos run inflicts on them and on the
servers: SIGKILL (a crash), SIGSTOP/SIGCONT (a stall: GC pause, frozen VM, zombie), SIGTERM (a drain).

Each worker leads its own process group, so a signal reaches a ``--workers N`` supervisor and its
children alike, and nothing outside the group is ever signalled.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.stack.processes import ManagedProcess, pid_alive

# The worker logs partition lists as Python reprs: assigned ['topic[0]', 'topic[1]'].
_PARTITIONS = re.compile(r"\b(assigned|revoked|lost) \[((?:'[^']*'(?:, )?)*)\]")
_QUOTED = re.compile(r"'([^']*)'")


def parse_partition_events(log: str) -> list[tuple[str, list[str]]]:
    """``(event, ['topic[p]', ...])`` for every assigned / revoked / lost line of a serve log, in order."""
    events = []
    for match in _PARTITIONS.finditer(log):
        events.append((match.group(1), _QUOTED.findall(match.group(2))))
    return events


class ServeProcess:
    """``streaminfer serve`` in a child process with its own log file.

    Args:
        args: Arguments after ``serve`` (``--pipeline``, ``--instance``, ``--workers`` ...).
        log_path: stdout and stderr of the process (appended).
        env: Extra environment variables (settings overrides).
    """

    def __init__(self, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.log_path = log_path
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self) -> "ServeProcess":
        """Start the process (its own session and process group)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "serve", *self.args],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **self.env}, start_new_session=True)
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int:
        """The leader's pid."""
        assert self.proc is not None, "not started"
        return self.proc.pid

    def running(self) -> bool:
        """True while the leader has not exited."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit code once exited (negative: killed by that signal)."""
        return None if self.proc is None else self.proc.poll()

    # -- faults --------------------------------------------------------------------------------
    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the whole process group (no-op once it has exited)."""
        if self.running():
            try:
                os.killpg(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill9(self, timeout_s: float = 30.0) -> None:
        """SIGKILL the group: no drain, no commit, an open transaction left behind — a crash."""
        self.signal_group(signal.SIGKILL)
        self.wait(timeout_s)

    def pause(self) -> None:
        """SIGSTOP the group: the worker stops heartbeating mid-transaction (a stall or a zombie)."""
        self.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT the group."""
        self.signal_group(signal.SIGCONT)

    def terminate(self, timeout_s: float = 60.0) -> int:
        """SIGTERM the leader and wait: a worker drains, commits and exits 0."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def wait(self, timeout_s: float) -> int:
        """Wait for the leader to exit; returns its exit code."""
        assert self.proc is not None, "not started"
        return self.proc.wait(timeout=timeout_s)

    def ensure_stopped(self) -> None:
        """Teardown: SIGCONT (a paused worker cannot drain), SIGTERM, then SIGKILL after 40 s."""
        if not self.running():
            return
        self.resume()
        try:
            self.terminate(timeout_s=40)
        except subprocess.TimeoutExpired:
            self.kill9()

    # -- observation ---------------------------------------------------------------------------
    def log(self) -> str:
        """Everything the process has written so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def partition_events(self) -> list[tuple[str, list[str]]]:
        """Assigned / revoked / lost events logged so far, in order."""
        return parse_partition_events(self.log())

    def owned_partitions(self) -> set[str]:
        """Partitions this process owns according to its log (assigned minus revoked and lost)."""
        owned: set[str] = set()
        for event, partitions in self.partition_events():
            if event == "assigned":
                owned.update(partitions)
            else:
                owned.difference_update(partitions)
        return owned

    def wait_until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``condition`` until true; raise ``TimeoutError`` naming ``what`` (with the log tail)."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if not self.running():
                raise RuntimeError(f"serve exited ({self.returncode}) while waiting for {what}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {timeout_s:.0f} s:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def wait_for_assignment(self, timeout_s: float = 60.0) -> set[str]:
        """Block until the process owns at least one partition; returns them."""
        self.wait_until(lambda: bool(self.owned_partitions()), timeout_s, "partition assignment")
        return self.owned_partitions()

    def wait_for_log(self, text: str, timeout_s: float = 60.0) -> None:
        """Block until ``text`` appears in the log."""
        self.wait_until(lambda: text in self.log(), timeout_s, repr(text))

    def rss_bytes(self) -> int:
        """Resident memory of every live process in the group (supervisor and its workers)."""
        if not self.running():
            return 0
        return group_rss_bytes(self.pid)


def group_rss_bytes(pgid: int) -> int:
    """Sum of VmRSS over live processes whose process group is ``pgid``."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            continue
    return total


def hard_kill(process: ManagedProcess, timeout_s: float = 30.0) -> int:
    """SIGKILL a stack server we started (its whole group) and wait until it is gone; returns its pid."""
    pid = process.pid()
    if pid is None:
        raise RuntimeError(f"{process.name} is not running")
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} pid {pid} survived SIGKILL")
        time.sleep(0.05)
    return pid
