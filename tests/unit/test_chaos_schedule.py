"""``streaminfer chaos`` without I/O: the --faults schedule, progress triggers, fault outcomes judged
on fake workers, recovery times, the timeline/report rendering and the soak RSS summary."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from engine.chaos import injector as injector_module
from engine.chaos.injector import FaultInjector
from engine.chaos.pipeline import SESSION_TIMEOUT_MS, redirecting_overrides, write_chaos_pipeline
from engine.chaos.options import ChaosOptions
from engine.chaos.schedule import (DEFAULT_SCHEDULE, FaultSpec, ProgressTrigger, format_faults, parse_faults,
                                   progress_fraction)
from engine.chaos.soak import MIB
from engine.chaos.timeline import RunClock, Series
from engine.chaos.topics import ChaosTopicSet
from engine.chaos.workers import WorkerPool
from engine.errors import ConfigError
from engine.stack.settings import StackSettings

# -- --faults -------------------------------------------------------------------------------------


def test_default_schedule_is_the_documented_one_and_round_trips() -> None:
    text = "kill@0.1,scale-out@0.2,broker@0.3,zombie@0.45,triton@0.6,scale-in@0.75,kill@0.9"
    assert format_faults(DEFAULT_SCHEDULE) == text
    assert parse_faults(text) == DEFAULT_SCHEDULE


def test_faults_are_sorted_by_fraction_keeping_the_written_order_of_ties() -> None:
    assert parse_faults(" Triton@0.5 , kill@0.2,broker@0.5 ") == (
        FaultSpec("kill", 0.2), FaultSpec("triton", 0.5), FaultSpec("broker", 0.5))


@pytest.mark.parametrize("text", ["", "none", " NONE "])
def test_no_faults(text: str) -> None:
    assert parse_faults(text) == ()
    assert format_faults(()) == "none"


@pytest.mark.parametrize("text, message", [
    ("explode@0.1", "unknown fault 'explode'"),
    ("kill", "not kind@fraction"),
    ("@0.2", "not kind@fraction"),
    ("kill@soon", "'soon' is not a number"),
    ("kill@1.0", "must be in [0, 1)"),
    ("kill@-0.1", "must be in [0, 1)"),
    ("kill@0.1,,broker@0.2", "not kind@fraction"),
])
def test_bad_fault_lists_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as excinfo:
        parse_faults(text)
    assert message in str(excinfo.value)
    assert str(excinfo.value).startswith("--faults:")


# -- progress triggers ----------------------------------------------------------------------------


def test_progress_is_answers_over_expected_and_capped() -> None:
    assert progress_fraction(0, 1000) == 0.0
    assert progress_fraction(250, 1000) == 0.25
    assert progress_fraction(1200, 1000) == 1.0  # duplicates must not look like more than done
    assert progress_fraction(5, 0) == 1.0


def test_a_fault_fires_only_once_progress_reaches_it() -> None:
    trigger = ProgressTrigger(parse_faults("kill@0.1,broker@0.3"))
    assert trigger.next_due(0.0) is None
    assert trigger.next_due(0.0999) is None
    assert trigger.next_due(0.1) == FaultSpec("kill", 0.1)
    assert trigger.next_due(0.2) is None  # kill fired; broker not due yet
    assert trigger.pending == (FaultSpec("broker", 0.3),)


def test_faults_past_due_fire_one_at_a_time_in_order() -> None:
    trigger = ProgressTrigger(DEFAULT_SCHEDULE)
    fired = []
    while (spec := trigger.next_due(1.0)) is not None:
        fired.append(spec)  # a real loop runs each fault to completion before asking again
    assert tuple(fired) == DEFAULT_SCHEDULE
    assert trigger.pending == ()


def test_expected_inputs_count_at_most_one_malformed_record_per_event() -> None:
    assert ChaosOptions(events=1_000_000, malformed=200).expected == 1_000_200
    assert ChaosOptions(events=10, malformed=200).expected == 20  # what the generator really writes


# -- recovery and quiet periods from samples ----------------------------------------------------


def _series(points: list[tuple[float, int]]) -> Series:
    series = Series()
    for t, value in points:
        series.add(t, value)
    return series


def test_recovery_is_the_time_until_the_count_grows_after_the_fault() -> None:
    series = _series([(0.0, 0), (1.0, 100), (2.0, 150), (3.0, 150), (4.0, 150), (5.5, 151), (6.0, 300)])
    assert series.recovery_after(2.5) == pytest.approx(3.0)   # stuck at 150 until 5.5 s
    assert series.recovery_after(1.0) == pytest.approx(1.0)
    assert series.recovery_after(-1.0) == pytest.approx(2.0)  # before any sample: from 0, grew at 1.0 s
    assert series.recovery_after(6.0) is None                 # never grew again
    assert series.value_at(3.5) == 150 and series.value_at(-1) is None


def test_last_change_is_when_the_final_value_was_first_seen() -> None:
    assert _series([(0.0, 5), (1.0, 7), (2.0, 9), (3.0, 9), (4.0, 9)]).last_change() == 2.0
    assert _series([(0.0, 9), (1.0, 9)]).last_change() == 0.0
    assert Series().last_change() is None


def test_clock_bounds_every_wait_by_what_is_left() -> None:
    clock = RunClock(max_seconds=5.0)
    assert clock.bound(60.0) <= 5.0
    assert clock.bound(1.0) == 1.0
    assert RunClock(max_seconds=0.0).bound(60.0) == 0.1  # never zero: a wait still polls once


# -- fault outcomes on fake workers ---------------------------------------------------------------


class FakeServe:
    """A ServeProcess stand-in: no process, scripted exit codes."""

    def __init__(self, args, log_path, env) -> None:
        self.args, self.log_path = args, log_path
        self.code: int | None = None
        self.on_kill9, self.on_resume_code, self.on_terminate = -9, 3, 0
        self.assigns, self.paused = True, False
        self.signals: list[str] = []

    def start(self):
        return self

    def running(self) -> bool:
        return self.code is None

    @property
    def returncode(self):
        return self.code

    def kill9(self, timeout_s: float = 30.0) -> None:
        self.signals.append("KILL")
        self.code = self.on_kill9

    def pause(self) -> None:
        self.signals.append("STOP")

    def resume(self) -> None:
        self.signals.append("CONT")
        if self.code is None:
            self.code = self.on_resume_code

    def terminate(self, timeout_s: float = 60.0) -> int:
        self.signals.append("TERM")
        if self.on_terminate is None:
            raise subprocess.TimeoutExpired("serve", timeout_s)
        self.code = self.on_terminate
        return self.code

    def wait(self, timeout_s: float) -> int:
        if self.code is None:
            raise subprocess.TimeoutExpired("serve", timeout_s)
        return self.code

    def wait_for_assignment(self, timeout_s: float = 60.0) -> set[str]:
        if not self.assigns:
            raise TimeoutError(f"no partition assignment after {timeout_s:.0f} s:\n(log tail)")
        return {"in[0]"}

    def ensure_stopped(self) -> None:
        self.code = self.code if self.code is not None else 0

    def rss_bytes(self) -> int:
        return 0 if self.code is not None else 100 * MIB

    def log(self) -> str:
        return ""


def _injector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FaultInjector, WorkerPool]:
    monkeypatch.setattr(injector_module.time, "sleep", lambda _s: None)
    pool = WorkerPool(tmp_path / "p.yaml", tmp_path, factory=FakeServe)
    return FaultInjector(pool, stack=None, clock=RunClock(600), session_timeout_s=6.0,  # type: ignore[arg-type]
                         say=lambda _line: None, model_ready=lambda: True), pool


def test_kill_replaces_instance_0_and_expects_minus_9(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    injector, pool = _injector(tmp_path, monkeypatch)
    first = pool.start_primary()
    outcome = injector.inject("kill")
    assert outcome.ok and first.signals == ["KILL"] and pool.primary is not first
    assert outcome.outcome == "w0.1 exit -9; w0.2 assigned after 0.0 s"
    assert pool.primary.args == ["--pipeline", str(tmp_path / "p.yaml"), "--instance", "0", "--metrics-port", "0"]
    assert pool.unexpected_exits() == []  # the killed one was retired, not "unexpected"


def test_a_replacement_that_never_gets_partitions_fails_the_kill(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    injector, pool = _injector(tmp_path, monkeypatch)
    pool.start_primary()
    monkeypatch.setattr(FakeServe, "wait_for_assignment", lambda self, timeout_s=60.0: (_ for _ in ()).throw(
        TimeoutError("no partition assignment after 60 s:\nlog")))
    outcome = injector.inject("kill")
    assert not outcome.ok and "NOT assigned: no partition assignment after 60 s" in outcome.outcome


def test_zombie_must_exit_3_after_it_is_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    injector, pool = _injector(tmp_path, monkeypatch)
    old = pool.start_primary()
    outcome = injector.inject("zombie")
    assert outcome.ok and old.signals == ["STOP", "CONT"]
    assert outcome.action == "SIGSTOP w0.1 10 s, start w0.2, SIGCONT w0.1"
    assert outcome.outcome.startswith("w0.1 exit 3 after")

    old = pool.primary
    old.on_resume_code = 1  # an engine that crashes instead of exiting "fenced"
    outcome = injector.inject("zombie")
    assert not outcome.ok and outcome.outcome.startswith("w0.2 exit 1 after")


def test_a_zombie_that_never_exits_is_killed_and_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    injector, pool = _injector(tmp_path, monkeypatch)
    old = pool.start_primary()
    old.on_resume_code = None  # keeps running after SIGCONT
    old.resume = lambda: old.signals.append("CONT")  # type: ignore[method-assign]
    outcome = injector.inject("zombie")
    assert not outcome.ok and "still running" in outcome.outcome and old.signals[-1] == "KILL"


def test_scale_out_then_in_counts_group_members_and_expects_exit_0(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    injector, pool = _injector(tmp_path, monkeypatch)
    pool.start_primary()
    out = injector.inject("scale-out")
    assert out.ok and "1 → 3 workers" in out.action
    assert pool.scaled.args[2:6] == ["--workers", "2", "--instance", "1"]
    assert pool.worker_count() == 3
    again = injector.inject("scale-out")
    assert not again.ok and again.action == "already scaled out"
    pool.scaled.on_terminate = 1
    scale_in = injector.inject("scale-in")
    assert not scale_in.ok and scale_in.outcome.startswith("w1-2.1 exit 1") and "3 → 1 workers" in scale_in.action
    assert not injector.inject("scale-in").ok  # nothing left to scale in


def test_unexpected_exit_is_reported_once_and_its_role_can_be_refilled(tmp_path: Path) -> None:
    pool = WorkerPool(tmp_path / "p.yaml", tmp_path, factory=FakeServe)
    worker, group = pool.start_primary(), pool.start_scale_out()
    assert pool.unexpected_exits() == []
    worker.code, group.code = 1, 4
    assert pool.unexpected_exits() == [("w0.1", worker), ("w1-2.1", group)]
    assert pool.unexpected_exits() == [] and pool.primary is None and pool.scaled is None
    assert pool.name(pool.replace(group)) == "w1-2.2" and pool.name(pool.replace(worker)) == "w0.2"
    assert pool.replace(worker) is None  # the role is filled again
    assert pool.worker_count() == 3


def test_rss_is_summed_over_live_workers(tmp_path: Path) -> None:
    pool = WorkerPool(tmp_path / "p.yaml", tmp_path, factory=FakeServe)
    pool.start_primary()
    pool.start_scale_out()
    assert pool.rss_bytes() == 200 * MIB


# -- the private pipeline -------------------------------------------------------------------------


def test_private_pipeline_points_at_the_run_topics_group_and_stack(tmp_path: Path) -> None:
    stack = StackSettings(home=tmp_path / "stack", kafka_port=19092, kafka_controller_port=19093,
                          triton_http_port=18000, triton_grpc_port=18001, triton_metrics_port=18002)
    topics = ChaosTopicSet("chaos.r1.in", "chaos.r1.scores", "chaos.r1.dlq", "chaos.r1.alerts")
    path = write_chaos_pipeline(tmp_path / "run" / "pipeline.yaml", "r1", topics, stack)
    config = yaml.safe_load(path.read_text())
    assert config["kafka"]["bootstrap_servers"] == "127.0.0.1:19092"
    assert config["kafka"]["group_id"] == "chaos-r1" and config["kafka"]["transactional_id_prefix"] == "chaos-r1"
    assert config["kafka"]["session_timeout_ms"] == SESSION_TIMEOUT_MS == 6000
    assert config["topics"]["input"] == "chaos.r1.in" and config["topics"]["dead_letter"] == "chaos.r1.dlq"
    assert config["triton"]["url"] == "127.0.0.1:18001" and config["triton"]["http_url"] == "127.0.0.1:18000"
    assert config["metrics"]["port"] == 0
    assert config["batching"]["max_rows"] == 1024  # the rest is the shipped fraud pipeline


def test_environment_overrides_that_would_redirect_workers_are_named() -> None:
    env = {"STREAMINFER_KAFKA__BOOTSTRAP_SERVERS": "x:1", "STREAMINFER_TOPICS__OUTPUT": "o",
           "STREAMINFER_BATCHING__MAX_ROWS": "64", "STREAMINFER_STACK_KAFKA_PORT": "19092"}
    assert redirecting_overrides(env) == ["STREAMINFER_KAFKA__BOOTSTRAP_SERVERS", "STREAMINFER_TOPICS__OUTPUT"]
