"""Start and stop server processes we own, tracked by pid files under ``.stack/``.

We only ever signal a pid we recorded *and* whose command line still matches what we started,
so a recycled pid belonging to someone else is never killed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import StackError


def port_is_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def read_cmdline(pid: int) -> str:
    """The process's command line as one string, or '' if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class ManagedProcess:
    """A server process this project starts, identified by a pid file and a command-line marker.

    Attributes:
        name: Short name used in messages (``kafka``, ``triton``).
        pid_file: Where the pid is recorded.
        log_file: stdout+stderr of the process.
        marker: A substring of the command line that proves the pid is still ours.
    """

    name: str
    pid_file: Path
    log_file: Path
    marker: str

    def pid(self) -> int | None:
        """The recorded pid if that process is alive and still ours, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if pid_alive(pid) and self.marker in read_cmdline(pid):
            return pid
        return None

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> int:
        """Start ``argv`` detached (own session), logging to ``log_file``; record and return its pid."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            try:
                process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, cwd=cwd, start_new_session=True,
                )
            except OSError as exc:
                raise StackError(f"{self.name}: cannot execute {argv[0]}: {exc.strerror}") from exc
        self.pid_file.write_text(f"{process.pid}\n")
        # Between fork and exec the child still shows our own command line: wait for the exec so
        # that pid() (which checks the marker) does not report a just-started server as gone.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and process.poll() is None and self.marker not in read_cmdline(process.pid):
            time.sleep(0.01)
        return process.pid

    def exited_early(self) -> bool:
        """True when a pid was recorded but that process is gone (it crashed during start)."""
        return self.pid_file.exists() and self.pid() is None

    def stop(self, grace_s: float) -> bool:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL. Returns True if a process was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                # The server leads its own session: signal the group so helpers (Triton's python
                # stubs) go too.
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            except PermissionError:
                os.kill(pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and pid_alive(pid):
                time.sleep(0.1)
            if not pid_alive(pid):
                break
        self._reap(pid)
        try:
            # Sweep what is left of the group (orphaned helpers) now that the leader is gone.
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if pid_alive(pid):
            raise StackError(f"{self.name}: pid {pid} survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)
        return True

    @staticmethod
    def _reap(pid: int) -> None:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
