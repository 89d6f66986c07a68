"""A small, bounded ``streaminfer bench`` run against the session's real stack.

Checks the shape of the figures and that every contender scored every event (the naive one,
time-capped by design, scored some and none twice). Never asserts on timings: the box is shared.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.bench.report import write_chart, write_json
from engine.bench.results import ROW_KEYS
from engine.bench.runner import BenchRunner
from engine.bench.settings import ALL_CONTENDERS, BenchOptions, BenchTarget
from engine.config.pipeline import load_pipeline

EVENTS = 5_000


@pytest.mark.timeout(300)
def test_quick_bench_runs_every_contender_over_every_event(stack, fraud_model, tmp_path: Path) -> None:
    settings = stack.settings
    target = BenchTarget(bootstrap=settings.kafka_bootstrap, triton_url=settings.triton_grpc_url,
                         triton_http_url=settings.triton_http_url, pipeline=load_pipeline("fraud"),
                         stack_facts={"kafka_heap_mb": settings.kafka_heap_mb},
                         model_repository=settings.model_repository)
    options = BenchOptions(events=EVENTS, partitions=3, paced_seconds=2.0, saturated_cap_s=60.0, naive_cap_s=4.0,
                           paced_pool=EVENTS, work_dir=tmp_path / "logs")
    report = BenchRunner(options, target, say=print).run()

    path = tmp_path / "bench.json"
    write_json(report, path)
    write_chart(report, tmp_path / "bench.png")
    document = orjson.loads(path.read_bytes())
    rows = {row["name"]: row for row in document["rows"]}
    assert list(rows) == list(ALL_CONTENDERS)
    assert all(tuple(row)[: len(ROW_KEYS)] == ROW_KEYS for row in document["rows"])
    assert set(document["ratios"]) >= {"engine_vs_bound", "engine_vs_naive", "engine_vs_faust"}
    assert all(value is not None for value in document["ratios"].values()), document["ratios"]
    assert document["machine"]["logical_cores"] >= 1

    for name, row in rows.items():
        assert not row["error"], f"{name}: {row['error']}"
        assert row["events_per_s"] and row["events_per_s"] > 0, name
        assert row["cpu_s_per_1k"] is not None and row["rss_mb"] > 0, name
        if name == "naive":
            assert row["capped"] and row["events_out"] > 0 and row["events_out"] == row["distinct_out"]
        elif name == "triton_ceiling":
            assert row["complete"], row
        else:
            assert row["complete"], f"{name}: {row['distinct_out']}/{EVENTS} events scored ({row['events_out']} out)"
            assert row["paced_events"] > 0 and row["paced_missing"] == 0, row
            assert row["p99_ms"] is not None and row["visible_p99_ms"] is not None, row
