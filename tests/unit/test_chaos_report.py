"""``streaminfer chaos`` without I/O: the timeline/report rendering, its verdict and JSON, and the soak
RSS summary."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from engine.chaos.invariant import check_invariant
from engine.chaos.report import ChaosReport, render_report, write_json
from engine.chaos.soak import MIB, summarize_soak
from engine.chaos.timeline import FaultRecord
from engine.chaos.watch import CommittedRecord

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
