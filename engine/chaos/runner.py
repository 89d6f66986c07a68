"""``streaminfer chaos``: N events of one pipeline (``--pipeline``, default fraud) through ``serve``
while a schedule of faults fires, then the delivery invariant over everything a ``read_committed``
reader saw.

Order of a run (each step bounded by the run's clock, ``--max-minutes``):

1. private topics (configured like the pipeline's catalog topics), pipeline YAML and run directory;
   watchers on the output and dead-letter topics (before any worker, so every committed answer is
   seen, including those of a shutdown);
2. worker instance 0, then the generator (a child process: its producer lives through the broker kill);
3. faults fire as progress (answers / expected inputs) reaches each one's fraction;
4. generator done and every input answered (quiet 5 s) → SIGTERM every worker (each must exit 0) →
   the watchers settle again → the input positions are read back → the invariant;
5. teardown, whatever happened: every worker and the generator stopped, a killed server restarted,
   watchers closed, topics deleted (unless kept).
"""

from __future__ import annotations

import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.chaos.generator import GeneratorProcess
from engine.chaos.injector import FaultInjector
from engine.chaos.invariant import check_invariant
from engine.chaos.options import ChaosAbort, ChaosOptions, new_run_id
from engine.chaos.pipeline import SESSION_TIMEOUT_MS, write_chaos_pipeline
from engine.chaos.report import ChaosReport
from engine.chaos.schedule import FaultSpec, ProgressTrigger, format_faults, progress_fraction
from engine.chaos.soak import summarize_soak
from engine.chaos.target import ChaosTarget
from engine.chaos.timeline import FaultRecord, RunClock, Sampler, Series
from engine.chaos.topics import ChaosTopics, ChaosTopicSet
from engine.chaos.watch import CommittedTopicWatcher, input_positions, read_committed
from engine.chaos.workers import WorkerPool
from engine.inference.model_control import ModelControl
from engine.serve.worker import EXIT_PRODUCER_STUCK
from engine.stack.manager import LocalStack

#: How often the answered count is sampled: recovery times are this precise.
ANSWER_SAMPLE_S = 0.1
#: The first worker's first assignment (a fresh group: no dead member to wait for).
FIRST_ASSIGN_TIMEOUT_S = 60.0
#: SIGTERM → exit of every worker at the end (each drains within shutdown_timeout_s, 30 s).
SHUTDOWN_TIMEOUT_S = 60.0
#: Reading the input topic back (a million records take ~30 s on two busy cores).
INPUT_READ_TIMEOUT_S = 300.0
#: How long after a broker fault an exit 4 (librdkafka wedged; see serve's exit codes) counts as its aftermath.
WEDGE_WINDOW_S = 120.0


@dataclass
class _Run:
    """What a run has started so far: teardown stops exactly these."""

    topics: ChaosTopics | None = None
    topic_set: ChaosTopicSet | None = None
    pipeline: Path | None = None
    watchers: list[CommittedTopicWatcher] = field(default_factory=list)
    answer_sampler: Sampler | None = None
    rss_sampler: Sampler | None = None
    pool: WorkerPool | None = None
    generator: GeneratorProcess | None = None
    injector: FaultInjector | None = None
    trigger: ProgressTrigger | None = None


class ChaosRunner:
    """Runs one chaos (or soak) run against ``stack`` and returns its report.

    Args:
        options: The run.
        stack: The local stack (its settings name the broker and Triton; its servers get killed).
        say: Progress lines (also appended to ``<run dir>/chaos.log``).
        target: The pipeline under test, already resolved (None: resolved from ``options.pipeline``).
    """

    def __init__(self, options: ChaosOptions, stack: LocalStack, say: Callable[[str], None] = print,
                 target: ChaosTarget | None = None) -> None:
        self.options = options
        self.stack = stack
        self.target = target or ChaosTarget.load(options.pipeline)
        self.run_id = new_run_id()
        self.run_dir = (options.work_dir or stack.settings.home / "chaos") / self.run_id
        self._say = say
        self.bootstrap = stack.settings.kafka_bootstrap
        self.answered = Series()
        self.rss = Series()
        self.clock = RunClock(options.max_minutes * 60.0)
        self._r = _Run()
        self._generator_started_s = 0.0
        self.model_control = ModelControl(stack.settings.triton_http_url)

    def say(self, line: str) -> None:
        """A progress line, time-stamped with the run's clock, to the console and the run log."""
        text = f"[{self.clock.now():7.1f}s] {line}"
        self._say(text)
        try:
            with (self.run_dir / "chaos.log").open("a") as log:
                log.write(text + "\n")
        except OSError:
            pass

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> ChaosReport:
        """Set up, drive, check, tear down; never leaves a process or a killed server behind."""
        o = self.options
        report = ChaosReport(self.run_id, "soak" if o.soak else "chaos", o.events, o.expected - o.events, o.expected,
                             run_dir=str(self.run_dir), settings={**o.describe(), **self.target.describe()},
                             pipeline=self.target.name)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._setup()
            self._drive(report)
            self._finish(report)
        except ChaosAbort as exc:
            report.error = str(exc)
        except KeyboardInterrupt:
            report.error = "interrupted (Ctrl-C)"
            report.interrupted = True
        except Exception as exc:  # noqa: BLE001 — any failure still gets a teardown and a report
            report.error = f"{type(exc).__name__}: {exc}"
            self.say(traceback.format_exc())
        finally:
            self._teardown(report)
        return report

    def _setup(self) -> None:
        r, s = self._r, self.stack.settings
        t = self.target
        r.topics = ChaosTopics(self.bootstrap, self.run_id, t.role_topics)
        r.topic_set = r.topics.create()
        r.pipeline = write_chaos_pipeline(self.run_dir / "pipeline.yaml", self.run_id, r.topic_set, s,
                                          base=t.base, input_schema=t.input_schema)
        self.say(f"run {self.run_id}: pipeline {t.name} (model {t.model_name!r}, input schema {t.input_schema}); "
                 f"topics {', '.join(r.topic_set.names())}; pipeline YAML {r.pipeline}")
        # Watchers before any worker: every committed answer is seen, a shutdown's included.
        for topic in (r.topic_set.output, r.topic_set.dead_letter):
            r.watchers.append(CommittedTopicWatcher(self.bootstrap, topic).start())
        # Sampled on threads: a fault blocking the loop for a minute must not blind recovery times.
        r.answer_sampler = Sampler(self.answered, self._answered_now, self.clock.now, ANSWER_SAMPLE_S,
                                   name="chaos-answers").start()
        r.pool = WorkerPool(r.pipeline, self.run_dir)
        if self.options.soak:
            r.rss_sampler = Sampler(self.rss, r.pool.rss_bytes, self.clock.now, self.options.rss_interval_s,
                                    skip_zero=True, name="chaos-rss").start()
        r.injector = FaultInjector(r.pool, self.stack, self.clock, SESSION_TIMEOUT_MS / 1000.0, self.say,
                                   self._model_ready)
        r.trigger = ProgressTrigger(self.options.faults)

    def _drive(self, report: ChaosReport) -> None:
        """First worker, the generator, then the loop: faults, unexpected exits, completion."""
        r, o = self._r, self.options
        first = r.pool.start_primary()
        try:
            first.wait_for_assignment(timeout_s=self.clock.bound(FIRST_ASSIGN_TIMEOUT_S))
        except (TimeoutError, RuntimeError) as exc:
            raise ChaosAbort(f"the first worker never got partitions: {exc}") from None
        r.generator = GeneratorProcess(r.pipeline, r.topic_set.input, o.events, o.rate, o.malformed,
                                       self.run_dir / "generator.log", seed=o.seed).start()
        self._generator_started_s = self.clock.now()
        self.say(f"generator: {o.events:,} {self.target.name} events + {o.malformed} malformed at {o.rate:,.0f}/s; "
                 f"faults: {format_faults(o.faults)}")
        generator_done_at: float | None = None
        last_line = 0.0
        while True:
            answered = self._answered_now()
            progress = progress_fraction(answered, o.expected)
            if self.clock.left() <= 0:
                raise ChaosAbort(f"--max-minutes {o.max_minutes:g} reached with {answered:,} of "
                                 f"{o.expected:,} answered")
            self._check_watchers()
            # Exits first: a fault due now must find the replacements of workers that died (a broker
            # kill's exit 4s), not "no running instance 0" — with faults due back to back (a short run:
            # progress outruns a 10-20 s fault) it otherwise fires at the dead.
            report.faults += self._unexpected_exits(answered, progress, report.faults)
            spec = r.trigger.next_due(progress)
            if spec is not None:
                self._fire(spec, answered, progress, report)
                continue  # re-read progress: the next fault may already be due
            if generator_done_at is None and not r.generator.running():
                code = r.generator.returncode
                if code != 0:
                    raise ChaosAbort(f"the generator exited with {code}: {r.generator.log_tail()}")
                generator_done_at = self.clock.now()
                last = r.generator.log_tail(300).strip().splitlines()
                self.say(f"generator done: {last[-1] if last else 'exit 0'}")
            if generator_done_at is not None and answered >= o.expected and not r.trigger.pending:
                return
            if generator_done_at is not None and self.clock.now() - generator_done_at > o.finish_timeout_s:
                # Not an abort: what is missing is exactly what the invariant must name.
                self.say(f"only {answered:,} of {o.expected:,} answered {o.finish_timeout_s:.0f} s after the "
                         f"generator finished: checking what there is")
                return
            if self.clock.now() - last_line >= 10:
                last_line = self.clock.now()
                self.say(f"progress {progress:.1%}: {answered:,} answered, "
                         f"{self._r.pool.worker_count()} worker(s) running")
            time.sleep(0.1)

    def _fire(self, spec: FaultSpec, answered: int, progress: float, report: ChaosReport) -> None:
        record = FaultRecord(spec.label, spec.kind, round(self.clock.now(), 2), progress, answered)
        report.faults.append(record)  # first: a fault cut short by Ctrl-C or an error still has its row
        self.say(f"{spec.label}: firing at {progress:.1%} ({answered:,} answered)")
        try:
            outcome = self._r.injector.inject(spec.kind)
        except BaseException as exc:
            record.outcome = f"cut short: {type(exc).__name__} {exc}".strip()
            raise
        record.completed_s = round(self.clock.now(), 2)
        record.action, record.outcome, record.expected, record.ok = (outcome.action, outcome.outcome,
                                                                      outcome.expected, outcome.ok)
        verdict = "as expected" if outcome.ok else "UNEXPECTED"
        self.say(f"{spec.label}: {outcome.action} → {outcome.outcome} ({verdict})")
        if outcome.fatal:
            raise ChaosAbort(f"{spec.label}: {outcome.outcome}")

    def _unexpected_exits(self, answered: int, progress: float, faults: list[FaultRecord]) -> list[FaultRecord]:
        """A worker that exited with no fault stopping it is an engine failure: a row (never ok) and its
        log tail in the run log. It is replaced (same role) and the replacement's assignment awaited
        (bounded), so the run can finish and the later faults find assigned targets; the row keeps the
        run's verdict a failure."""
        pool, rows, replacements = self._r.pool, [], []
        for name, proc in pool.unexpected_exits():
            now = round(self.clock.now(), 2)
            tail = proc.log()[-4000:]
            self.say(f"{name} exited by itself with {proc.returncode}; log tail:\n{tail}")
            # Exit 4 after a broker kill is the engine's designed answer to librdkafka wedging inside
            # send_offsets_to_transaction (#5456): a restart (done here, as an orchestrator would) is
            # the recovery. It gets its own row, so how often it happens stays visible.
            wedged = proc.returncode == EXIT_PRODUCER_STUCK and self._broker_killed_within(WEDGE_WINDOW_S, faults)
            label = "wedge-restart" if wedged else "unexpected-exit"
            action = f"{name} exited ({'after the broker kill' if wedged else 'no fault stopped it'})"
            replacement = pool.replace(proc)
            expected = "exit 4 (wedged producer) and a restart" if wedged else "keeps running"
            rows.append(FaultRecord(label, "unexpected-exit", now, progress, answered, action,
                                    _exit_text(proc.returncode, tail), expected, wedged, now))
            if replacement is not None:
                replacements.append((rows[-1], replacement))
        # Started together, then awaited: the group rebalances once for all of them.
        for row, replacement in replacements:
            assigned, note = self._r.injector.assignment(replacement)
            row.action += f"; started {pool.name(replacement)} ({note})"
            row.ok = row.ok and assigned
            row.completed_s = round(self.clock.now(), 2)
        return rows

    def _broker_killed_within(self, seconds: float, faults: list[FaultRecord]) -> bool:
        """True when a broker fault finished less than ``seconds`` ago."""
        now = self.clock.now()
        return any(row.kind == "broker" and row.completed_s is not None and now - row.completed_s <= seconds
                   for row in faults)

    def _finish(self, report: ChaosReport) -> None:
        """Settle, stop every worker (each must exit 0), settle again, read the input, check."""
        r, o = self._r, self.options
        self._settle("every input answered")
        last_answer = self.answered.last_change() or self.clock.now()
        report.elapsed_s = max(0.0, last_answer - self._generator_started_s)
        if r.rss_sampler is not None:
            r.rss_sampler.sample_now()
            r.rss_sampler.stop()  # the RSS of a draining worker says nothing about a leak
        report.faults.append(self._shutdown())
        self._settle("answers committed during shutdown")
        outputs, dead_letters = r.watchers[0].records(), r.watchers[1].records()
        report.answered = len(outputs) + len(dead_letters)
        report.answered_per_s = report.answered / report.elapsed_s if report.elapsed_s else None
        self.say(f"reading the input topic back ({o.expected:,} records expected)")
        positions = input_positions(read_committed(self.bootstrap, r.topic_set.input, o.expected,
                                                   timeout_s=INPUT_READ_TIMEOUT_S))
        report.inputs_read = len(positions)
        report.invariant = check_invariant(positions, outputs, dead_letters, input_topic=r.topic_set.input)
        self.say(f"invariant: {report.invariant.summary()}")

    def _settle(self, what: str, timeout_s: float = 120.0) -> None:
        """Wait until every expected input is answered and no answer came for ``quiet_s`` (bounded).

        A shortfall at the timeout is not an abort: the invariant then names what is missing.
        """
        o = self.options
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_watchers()
            changed = self.answered.last_change()
            quiet = changed is not None and self.clock.now() - changed >= o.quiet_s
            if self._answered_now() >= o.expected and quiet:
                return
            time.sleep(0.1)
        self.say(f"not settled ({what}) after {timeout_s:.0f} s: {self._answered_now():,} of {o.expected:,} answered")

    def _shutdown(self) -> FaultRecord:
        pool = self._r.pool
        answered = self._answered_now()
        record = FaultRecord("shutdown", "shutdown", round(self.clock.now(), 2), progress_fraction(
            answered, self.options.expected), answered, expected="every worker exits 0")
        names = [name for name, _ in pool.running()]
        record.action = f"SIGTERM {', '.join(names) or 'nothing'}"
        codes = pool.terminate_all(SHUTDOWN_TIMEOUT_S)
        record.completed_s = round(self.clock.now(), 2)
        record.outcome = ", ".join(f"{name} exit {'timeout (killed)' if code is None else code}"
                                   for name, code in codes.items()) or "no worker was running"
        record.ok = bool(codes) and all(code == 0 for code in codes.values())
        self.say(f"shutdown: {record.outcome}")
        return record

    def _teardown(self, report: ChaosReport) -> None:
        r = self._r
        for sampler in (r.answer_sampler, r.rss_sampler):
            if sampler is not None:
                sampler.stop()
        if not report.answered:  # aborted before the end: what had been answered by now
            report.answered = self._answered_now()
        if r.generator is not None:
            r.generator.stop()
        # A server a fault left down comes back first, so the workers can still drain and commit.
        if r.injector is not None and r.injector.killed_servers:
            down = ", ".join(sorted(r.injector.killed_servers))
            self.say(f"teardown: restarting {down} (killed by a fault, still down)")
            try:
                self.stack.up()
            except Exception as exc:  # noqa: BLE001 — say so; the report carries the run's own error
                self.say(f"teardown: could not restart {down}: {exc}")
        if r.pool is not None:
            r.pool.ensure_stopped_all()
        for watcher in r.watchers:
            watcher.stop()
        if r.trigger is not None:
            report.not_fired = [spec.label for spec in r.trigger.pending]
        # Recovery is computed now, from the samples, for every fault that completed.
        for row in report.faults:
            if row.completed_s is not None and row.kind not in {"shutdown", "unexpected-exit"}:
                row.recovery_s = self.answered.recovery_after(row.completed_s)
        if self.options.soak:
            report.soak = summarize_soak(self.rss.samples(), self.answered.samples(), self.options.rss_interval_s)
        if r.topics is not None and not self.options.keep_topics:
            failed = r.topics.delete()
            if failed:
                self.say(f"teardown: could not delete {', '.join(failed)}")

    # -- observation ----------------------------------------------------------------------------
    def _answered_now(self) -> int:
        return sum(watcher.count() for watcher in self._r.watchers)

    def _check_watchers(self) -> None:
        for watcher in self._r.watchers:
            if watcher.error is not None:
                raise ChaosAbort(f"the watcher of {watcher.topic} failed: {watcher.error!r}")

    def _model_ready(self) -> bool:
        return bool(self.model_control.ready_versions(self.target.model_name))


def _exit_text(code: int | None, log: str) -> str:
    """``exit -9 (SIGKILL): <the error it logged>`` for the timeline: what the process said last."""
    text = f"exit {code}"
    if code is not None and code < 0:
        try:
            text += f" ({signal.Signals(-code).name})"
        except ValueError:
            pass
    line = _last_error(log)
    return f"{text}: {line}" if line else f"{text}; no error in its log"


def _last_error(log: str) -> str | None:
    """The exception of the last traceback, else the last error-level line, of a worker log."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    tracebacks = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    if tracebacks:
        return lines[-1][:200]  # a traceback ends with the exception and its message
    for line in reversed(lines):
        if "[error" in line or "[critical" in line or "fenced" in line.lower():
            return line[:200]
    return None
