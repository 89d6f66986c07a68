"""Carries out one scheduled fault against the workers or a server, and judges its outcome.

Each fault does what ``engine.chaos.schedule.FAULT_KINDS`` says and returns what was done, what
happened (exit codes, restart times) and whether that is what the engine promises. Every wait is
bounded by the run's clock; nothing here retries around an engine failure.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.chaos.faults import ServeProcess, hard_kill
from engine.chaos.timeline import RunClock
from engine.chaos.workers import WorkerPool
from engine.errors import StreaminferError
from engine.serve.worker import EXIT_PRODUCER_STUCK
from engine.stack.manager import LocalStack
from engine.stack.processes import ManagedProcess

#: A killed server stays down this long before it is restarted: long enough for every client to
#: notice (connections refused, requests failing), short enough for the run to go on.
SERVER_DOWN_S = 3.0
#: How long a replacement or scale-out worker may take to get partitions (a session timeout for
#: the dead member plus a cooperative rebalance, with room for a busy box).
ASSIGN_TIMEOUT_S = 60.0
#: How long a resumed zombie, or a draining supervisor, may take to exit.
EXIT_TIMEOUT_S = 60.0
#: Past the session timeout, so the group has certainly evicted the stalled worker.
ZOMBIE_EXTRA_S = 4.0


@dataclass
class FaultOutcome:
    """What one fault did and whether it went as the engine promises.

    Attributes:
        action: What was done.
        outcome: What happened.
        expected: What had to happen.
        ok: ``outcome`` is ``expected``.
        fatal: The run cannot go on (a server did not come back).
    """

    action: str
    outcome: str
    expected: str
    ok: bool
    fatal: bool = False


class FaultInjector:
    """Injects faults into one run's workers and stack.

    Args:
        pool: The run's workers.
        stack: The run's local stack (its servers are the ones killed).
        clock: The run's clock (bounds every wait).
        session_timeout_s: The workers' consumer session timeout.
        say: Progress lines.
        model_ready: True once Triton serves the pipeline's model again (after a Triton restart).
    """

    def __init__(self, pool: WorkerPool, stack: LocalStack, clock: RunClock, session_timeout_s: float,
                 say: Callable[[str], None], model_ready: Callable[[], bool]) -> None:
        self.pool = pool
        self.stack = stack
        self.clock = clock
        self.session_timeout_s = session_timeout_s
        self.say = say
        self.model_ready = model_ready
        #: Servers a fault killed: teardown restarts any of them that is still down.
        self.killed_servers: set[str] = set()

    def inject(self, kind: str) -> FaultOutcome:
        """Carry out one fault of ``kind``."""
        handler = {"kill": self.kill, "scale-out": self.scale_out, "broker": self.broker, "zombie": self.zombie,
                   "triton": self.triton, "scale-in": self.scale_in}[kind]
        return handler()

    # -- worker faults -------------------------------------------------------------------------
    def kill(self) -> FaultOutcome:
        """SIGKILL instance 0 and start a new instance 0."""
        old = self.pool.primary
        expected = "old exit -9; new w0 assigned"
        if old is None or not old.running():
            return FaultOutcome("nothing to kill: no running instance 0", "-", expected, False)
        old_name = self.pool.name(old)
        self.pool.retire(old)
        old.kill9(timeout_s=self.clock.bound(30))
        new = self.pool.start_primary()
        assigned, note = self.assignment(new)
        outcome = f"{old_name} exit {old.returncode}; {self.pool.name(new)} {note}"
        return FaultOutcome(f"SIGKILL {old_name}, start {self.pool.name(new)}", outcome, expected,
                            old.returncode == -9 and assigned)

    def scale_out(self) -> FaultOutcome:
        """Add instances 1 and 2 (one supervisor)."""
        expected = "instances 1-2 assigned"
        if self.pool.scaled is not None and self.pool.scaled.running():
            return FaultOutcome("already scaled out", "-", expected, False)
        before = self.pool.worker_count()
        proc = self.pool.start_scale_out()
        assigned, note = self.assignment(proc)
        return FaultOutcome(f"start {self.pool.name(proc)} (--workers 2 --instance 1): {before} → {before + 2} "
                            f"workers", f"{self.pool.name(proc)} {note}", expected, assigned)

    def zombie(self) -> FaultOutcome:
        """Stall instance 0 past its session, replace it, then let the stalled one run again."""
        old = self.pool.primary
        expected = "old exit 3 (fenced) ≤ 60 s; new w0 assigned"
        if old is None or not old.running():
            return FaultOutcome("no running instance 0 to stall", "-", expected, False)
        old_name = self.pool.name(old)
        stall_s = self.session_timeout_s + ZOMBIE_EXTRA_S
        self.pool.retire(old)
        old.pause()
        new: ServeProcess | None = None
        try:
            time.sleep(min(stall_s, self.clock.left()))
            new = self.pool.start_primary()
            assigned, note = self.assignment(new)
        finally:
            old.resume()  # whatever happened, the stalled process must run again to be judged
        action = f"SIGSTOP {old_name} {stall_s:.0f} s, start {self.pool.name(new)}, SIGCONT {old_name}"
        code, waited = self._exit_code(old, EXIT_TIMEOUT_S)
        old_text = (f"{old_name} exit {code} after {waited:.1f} s" if code is not None
                    else f"{old_name} still running {waited:.0f} s after SIGCONT (killed)")
        return FaultOutcome(action, f"{old_text}; {self.pool.name(new)} {note}", expected, code == 3 and assigned)

    def scale_in(self) -> FaultOutcome:
        """SIGTERM the instances 1-2 supervisor: both drain and it exits 0."""
        proc = self.pool.scaled
        expected = "exit 0 (drained)"
        if proc is None or not proc.running():
            return FaultOutcome("nothing to scale in: no running instances 1-2", "-", expected, False)
        name = self.pool.name(proc)
        before = self.pool.worker_count()
        self.pool.retire(proc)
        started = time.monotonic()
        try:
            code: int | None = proc.terminate(timeout_s=self.clock.bound(EXIT_TIMEOUT_S))
        except subprocess.TimeoutExpired:
            proc.kill9()
            code = None
        waited = time.monotonic() - started
        outcome = (f"{name} exit {code} after {waited:.1f} s" if code is not None
                   else f"{name} still draining after {waited:.0f} s (killed)")
        return FaultOutcome(f"SIGTERM {name}: {before} → {before - 2} workers", outcome, expected, code == 0)

    # -- server faults -------------------------------------------------------------------------
    def broker(self) -> FaultOutcome:
        """SIGKILL Kafka, keep it down a few seconds, restart it."""
        return self._server(self.stack.kafka.process, wait_model=False)

    def triton(self) -> FaultOutcome:
        """SIGKILL Triton, keep it down a few seconds, restart it and wait for the model."""
        return self._server(self.stack.triton.process, wait_model=True)

    def _server(self, process: ManagedProcess, wait_model: bool) -> FaultOutcome:
        expected = "back up; every worker running (or exit 4 after a broker kill)"
        before = self.pool.running()
        try:
            pid = hard_kill(process)
        except RuntimeError as exc:
            return FaultOutcome(f"SIGKILL {process.name}", f"not killed: {exc}", expected, False)
        self.killed_servers.add(process.name)
        time.sleep(min(SERVER_DOWN_S, self.clock.left()))
        started = time.monotonic()
        try:
            self.stack.up()  # idempotent: starts only what is down, waits for readiness (bounded)
            if wait_model:
                self._wait_model()
        except (StreaminferError, TimeoutError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return FaultOutcome(f"SIGKILL {process.name} pid {pid}, restart", f"restart failed: {first}",
                                expected, False, fatal=True)
        restart_s = time.monotonic() - started
        self.killed_servers.discard(process.name)
        # After a broker kill a worker may exit 4: librdkafka wedged in a transactional call
        # (#5456) and serve's call deadline fired. That is the designed recovery (the runner restarts
        # it in a wedge-restart row); any other exit is a failure.
        wedged = [name for name, proc in before if not proc.running()
                  and process.name == "kafka" and proc.returncode == EXIT_PRODUCER_STUCK]
        gone = [name for name, proc in before if not proc.running() and name not in wedged]
        running = [name for name, proc in before if proc.running()]
        alive = ", ".join([*(f"{n} EXITED" for n in gone), *(f"{n} exit 4 (wedged)" for n in wedged),
                           *(f"{n} still running" for n in running)]) or "no worker"
        what = "ready, model loaded" if wait_model else "ready"
        return FaultOutcome(f"SIGKILL {process.name} pid {pid}, down {SERVER_DOWN_S:.0f} s, restart",
                            f"pid {process.pid()} {what} in {restart_s:.1f} s; {alive}", expected, not gone)

    def _wait_model(self, timeout_s: float = 120.0) -> None:
        # --load-model=* loads it at start, but /v2/health/ready may answer before the model is READY.
        deadline = time.monotonic() + self.clock.bound(timeout_s)
        while not self.model_ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the model is not READY {timeout_s:.0f} s after the Triton restart")
            time.sleep(0.2)

    # -- helpers -------------------------------------------------------------------------------
    def assignment(self, proc: ServeProcess) -> tuple[bool, str]:
        """Wait for ``proc``'s first partition assignment: (assigned, text for the outcome)."""
        started = time.monotonic()
        try:
            proc.wait_for_assignment(timeout_s=self.clock.bound(ASSIGN_TIMEOUT_S))
        except (TimeoutError, RuntimeError) as exc:
            # The exception carries the log tail; the run log keeps it, the table its first line.
            self.say(f"{self.pool.name(proc)}: {exc}")
            return False, f"NOT assigned: {str(exc).splitlines()[0]}"
        return True, f"assigned after {time.monotonic() - started:.1f} s"

    def _exit_code(self, proc: ServeProcess, timeout_s: float) -> tuple[int | None, float]:
        """Wait for ``proc`` to exit by itself: (code or None if it had to be killed, seconds waited)."""
        started = time.monotonic()
        try:
            code: int | None = proc.wait(self.clock.bound(timeout_s))
        except subprocess.TimeoutExpired:
            proc.kill9()
            code = None
        return code, time.monotonic() - started
