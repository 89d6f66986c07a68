"""``streaminfer chaos`` without I/O: the --faults schedule, progress triggers, fault outcomes judged
on fake workers, recovery times, the timeline/report rendering and the soak RSS summary."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml
from rich.console import Console

from engine.chaos import injector as injector_module
from engine.chaos.injector import FaultInjector
from engine.chaos.invariant import check_invariant
from engine.chaos.pipeline import SESSION_TIMEOUT_MS, redirecting_overrides, write_chaos_pipeline
from engine.chaos.report import ChaosReport, render_report, write_json
from engine.chaos.runner import ChaosOptions
from engine.chaos.schedule import (DEFAULT_SCHEDULE, FaultSpec, ProgressTrigger, format_faults, parse_faults,
                                   progress_fraction)
from engine.chaos.soak import MIB, summarize_soak
from engine.chaos.timeline import FaultRecord, RunClock, Series
from engine.chaos.topics import ChaosTopicSet
from engine.chaos.watch import CommittedRecord
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


# -- report ---------------------------------------------------------------------------------------


def _record(topic: str, partition: int, offset: int, source: tuple[int, int]) -> CommittedRecord:
    value = orjson.dumps({"source": {"topic": "in", "partition": source[0], "offset": source[1]}})
    return CommittedRecord(topic, partition, offset, None, value, 0)


def _report(duplicate: bool = False) -> ChaosReport:
    outputs = [_record("out", 0, 0, (0, 0)), _record("out", 0, 1, (0, 1))]
    if duplicate:
        outputs.append(_record("out", 0, 2, (0, 1)))
    dead = [CommittedRecord("dlq", 0, 0, None, b"", 0, {"streaminfer.dlq.topic": "in",
                                                         "streaminfer.dlq.partition": "0",
                                                         "streaminfer.dlq.offset": "2"})]
    invariant = check_invariant([(0, 0), (0, 1), (0, 2)], outputs, dead, input_topic="in")
    faults = [
        FaultRecord("kill@0.1", "kill", 4.9, 0.101, 303, "SIGKILL w0.1, start w0.2",
                    "w0.1 exit -9; w0.2 assigned after 5.2 s", "old exit -9; new w0 assigned", True, 10.1, 0.2),
        FaultRecord("zombie@0.45", "zombie", 35.1, 0.45, 1350, "SIGSTOP w0.2 10 s, start w0.3, SIGCONT w0.2",
                    "w0.2 exit 1 after 1.2 s; w0.3 assigned after 4.9 s", "old exit 3 (fenced) ≤ 60 s", False,
                    51.3, None),
        FaultRecord("shutdown", "shutdown", 60.0, 1.0, 3, "SIGTERM w0.3", "w0.3 exit 0", "every worker exits 0",
                    True, 61.0),
    ]
    return ChaosReport("r1", "chaos", 2, 1, 3, answered=len(outputs) + 1, inputs_read=3, elapsed_s=2.0,
                       answered_per_s=1.5, faults=faults, invariant=invariant, run_dir="/tmp/run")


def _text(report: ChaosReport) -> str:
    buffer = io.StringIO()
    render_report(report, Console(file=buffer, width=250))
    return buffer.getvalue()


def test_table_shows_the_timeline_the_invariant_and_why_it_failed() -> None:
    text = _text(_report())
    for cell in ("kill@0.1", "zombie@0.45", "shutdown", "10.1%", "w0.2 exit 1 after 1.2 s", "0.2", "NO"):
        assert cell in text
    assert "invariant: HOLDS: 3 inputs: 2 scored, 1 dead-lettered — exactly once, in order" in text
    assert "events: 2 valid + 1 malformed = 3 inputs; answered 3; elapsed 2.0 s; average 2 answered/s" in text
    assert "verdict: FAIL (zombie@0.45: w0.2 exit 1 after 1.2 s; w0.3 assigned after 4.9 s)" in text


def test_a_duplicate_fails_the_verdict_even_when_every_fault_went_well() -> None:
    report = _report(duplicate=True)
    report.faults = [row for row in report.faults if row.ok]
    assert not report.ok and report.failures() == ["invariant violated"]
    assert "invariant: VIOLATED: 3 inputs: 3 scored" in _text(report)


def test_a_clean_run_passes_and_an_aborted_or_short_one_does_not() -> None:
    report = _report()
    report.faults = [row for row in report.faults if row.ok]
    assert report.ok and "verdict: PASS" in _text(report)
    report.not_fired = ["kill@0.9"]
    assert report.failures() == ["kill@0.9: never fired"]
    report.not_fired, report.inputs_read = [], 2
    assert report.failures() == ["the input topic holds 2 records, 3 were generated"]
    report.inputs_read, report.error, report.invariant = 3, "--max-minutes 30 reached", None
    assert report.failures() == ["aborted: --max-minutes 30 reached", "invariant not checked"]


def test_outcomes_with_brackets_are_printed_verbatim() -> None:
    report = _report()
    report.faults[0].outcome = "w0.2 assigned ['chaos.in[0]']"
    assert "['chaos.in[0]']" in _text(report)


def test_json_has_the_timeline_invariant_and_verdict(tmp_path: Path) -> None:
    path = tmp_path / "out" / "chaos.json"
    write_json(_report(duplicate=True), path)
    document = orjson.loads(path.read_bytes())
    assert document["ok"] is False and document["mode"] == "chaos"
    assert [row["fault"] for row in document["faults"]] == ["kill@0.1", "zombie@0.45", "shutdown"]
    assert document["faults"][0]["recovery_s"] == 0.2 and document["faults"][0]["progress"] == 0.101
    assert document["invariant"]["duplicates"] == 1 and document["invariant"]["samples"]["duplicates"] == [[0, 1]]
    assert document["soak"] is None


# -- soak -----------------------------------------------------------------------------------------


def test_soak_rows_take_the_last_sample_of_each_minute_and_growth_from_first_to_last() -> None:
    start = 5.0  # the first RSS sample opens minute 1
    rss = [(start + 10 * i, (150 + i) * MIB) for i in range(19)]  # 0..180 s: 150..168 MiB
    answered = [(t, int(t * 100)) for t in range(0, 200)]
    summary = summarize_soak(rss, answered, interval_s=10.0)
    assert [row.minute for row in summary.rows] == [1, 2, 3]
    assert [row.rss_mib for row in summary.rows] == [156.0, 162.0, 168.0]
    assert [row.answered for row in summary.rows] == [6500, 12500, 18500]
    assert summary.growth_mib == pytest.approx(12.0)
    assert summary.growth_pct == pytest.approx(100 * 12 / 156)
    assert summary.growth_line() == "RSS 156.0 → 168.0 MiB (+12.0 MiB, +7.7 %) from minute 1 to minute 3"


def test_soak_with_a_partial_last_minute_and_a_gap() -> None:
    rss = [(0.0, 100 * MIB), (50.0, 110 * MIB), (130.0, 105 * MIB)]  # nothing sampled in minute 2
    summary = summarize_soak(rss, [])
    assert [(row.minute, row.rss_mib) for row in summary.rows] == [(1, 110.0), (3, 105.0)]
    assert summary.growth_mib == pytest.approx(-5.0) and "-5.0 MiB" in summary.growth_line()


def test_soak_with_one_row_or_none_has_no_growth() -> None:
    assert summarize_soak([(0.0, 100 * MIB)], []).growth_mib is None
    assert "no growth to measure" in summarize_soak([(0.0, 100 * MIB)], []).growth_line()
    assert summarize_soak([], []).rows == [] and summarize_soak([], []).growth_line() == "RSS: no samples"


def test_soak_table_and_json() -> None:
    report = _report()
    report.mode = "soak"
    report.soak = summarize_soak([(0.0, 100 * MIB), (60.0, 101 * MIB), (120.0, 103 * MIB)], [(60.0, 5000)])
    text = _text(report)
    assert "worker RSS" in text and "103.0" in text and "(+2.0 MiB, +2.0 %)" in text
    document = report.to_json()
    assert document["soak"]["growth_mib"] == pytest.approx(2.0) and len(document["soak"]["rows"]) == 2
