"""Benchmark output: the terminal table, the JSON document, the PNG chart, the machine facts."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
from rich.console import Console

from engine.bench.machine import cpu_model, triton_instances
from engine.bench.report import render_table, write_chart, write_json
from engine.bench.results import ROW_KEYS, BenchReport, ContenderResult, check_targets, compute_ratios


def _report() -> BenchReport:
    rows = [
        ContenderResult("kafka_ceiling", 25_000.0, 6.0, 40.0, 80.0, 0.007, 100.0, complete=True, expected=10),
        ContenderResult("triton_ceiling", 380_000.0, cpu_s_per_1k=0.001, rss_mb=170.0, complete=True),
        ContenderResult("engine_eos", 20_000.0, 30.0, 90.0, 120.0, 0.03, 140.0, visible_p99_ms=210.0),
        ContenderResult("naive", 85.0, 7.0, 13.0, 30.0, 2.4, 110.0, capped=True, events_out=700),
        ContenderResult("faust", None, error="exited with 1 before finishing"),
    ]
    by_name = {row.name: row for row in rows}
    ratios = compute_ratios(by_name)
    return BenchReport(rows, ratios, check_targets(by_name, ratios, 100),
                       {"logical_cores": 2, "cpu_model": "test", "triton": {"model_instances": 1}, "note": "n"},
                       {"events": 10})


def test_table_shows_every_row_ratios_and_targets() -> None:
    buffer = io.StringIO()
    render_table(_report(), Console(file=buffer, width=200))
    text = buffer.getvalue()
    for name in ("kafka_ceiling", "triton_ceiling", "engine_eos", "naive", "faust"):
        assert name in text
    assert "engine_vs_bound" in text and "capped: 700 done" in text and "exited with 1" in text


def test_json_document_has_the_contract_shape(tmp_path: Path) -> None:
    path = tmp_path / "out" / "bench.json"
    write_json(_report(), path)
    document = orjson.loads(path.read_bytes())
    assert set(document["ratios"]) >= {"engine_vs_bound", "engine_vs_naive", "engine_vs_faust"}
    assert all(tuple(row)[: len(ROW_KEYS)] == ROW_KEYS for row in document["rows"])
    assert document["machine"]["logical_cores"] == 2


def test_chart_is_a_png(tmp_path: Path) -> None:
    path = tmp_path / "bench.png"
    write_chart(_report(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_triton_instances_from_config(tmp_path: Path) -> None:
    (tmp_path / "fraud").mkdir()
    (tmp_path / "fraud" / "config.pbtxt").write_text('instance_group [ { kind: KIND_CPU\n count: 2 } ]')
    assert triton_instances(tmp_path, "fraud") == 2
    assert triton_instances(tmp_path, "missing") is None
    assert triton_instances(None, "fraud") is None
    assert cpu_model()
