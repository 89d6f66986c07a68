"""Benchmark figures: the throughput bound, the ratios, the targets and the JSON row contract."""

from __future__ import annotations

import pytest

from engine.bench.process import Progress, ProgressSample
from engine.bench.process_stats import TreeSample
from engine.bench.results import (
    ROW_KEYS,
    BenchReport,
    ContenderResult,
    check_targets,
    compute_ratios,
    throughput_bound,
)


def _rows(**rates: float | None) -> dict[str, ContenderResult]:
    return {name: ContenderResult(name, events_per_s=rate) for name, rate in rates.items()}


def test_bound_is_the_harmonic_combination_of_both_ceilings() -> None:
    assert throughput_bound(100.0, 100.0) == pytest.approx(50.0)
    assert throughput_bound(30_000.0, 300_000.0) == pytest.approx(27_272.7, rel=1e-4)
    assert throughput_bound(None, 10.0) is None
    assert throughput_bound(10.0, 0.0) is None


def test_ratios_use_the_exactly_once_engine() -> None:
    rows = _rows(kafka_ceiling=20_000, triton_ceiling=380_000, engine_eos=15_000, engine_alo=17_000,
                 naive=80, faust=1_500)
    ratios = compute_ratios(rows)
    bound = throughput_bound(20_000, 380_000)
    assert ratios["engine_vs_bound"] == pytest.approx(15_000 / bound, abs=1e-3)
    assert ratios["engine_vs_naive"] == pytest.approx(187.5)
    assert ratios["engine_vs_faust"] == pytest.approx(10.0)
    assert ratios["engine_alo_vs_bound"] == pytest.approx(17_000 / bound, abs=1e-3)


def test_missing_rows_give_none_not_an_error() -> None:
    ratios = compute_ratios(_rows(engine_eos=1_000, naive=None))
    assert ratios["engine_vs_bound"] is None
    assert ratios["engine_vs_naive"] is None
    assert ratios["engine_vs_faust"] is None


def test_targets_report_met_missed_and_unknown() -> None:
    rows = _rows(kafka_ceiling=10, triton_ceiling=10, engine_eos=9, engine_alo=9, naive=1, faust=1)
    rows["engine_alo"].p99_ms = 35.0
    rows["engine_eos"].visible_p99_ms = 150.0
    rows["engine_eos"].max_process_rss_mb = 120.0
    targets = {t["target"]: t for t in check_targets(rows, compute_ratios(rows), commit_interval_ms=100)}
    assert targets["engine_vs_bound >= 0.8"]["met"] is True  # 9 / 5
    assert targets["engine_vs_naive >= 30"]["met"] is False
    assert targets["at-least-once p99 <= 20 ms at 50% load (record timestamps)"]["met"] is False
    assert targets["at-least-once p99 <= 20 ms at 50% load (visible)"]["met"] is None
    assert targets["exactly-once p99 <= 200 ms (visible)"]["met"] is True
    assert targets["RSS <= 500 MB per worker"]["value"] == 120.0


def test_rows_start_with_the_contract_keys_and_keep_extras() -> None:
    row = ContenderResult("engine_eos", events_per_s=1.0, visible_p99_ms=3.0).to_row()
    assert tuple(row)[: len(ROW_KEYS)] == ROW_KEYS
    assert row["visible_p99_ms"] == 3.0
    report = BenchReport([ContenderResult("naive")], {"engine_vs_naive": None}, [], {"cores": 2}, {})
    document = report.to_json()
    assert set(document) >= {"rows", "ratios", "machine"}
    assert document["rows"][0]["name"] == "naive"


def _sample(at: float, count: int, cpu: float, kafka: float = 0.0) -> ProgressSample:
    return ProgressSample(at, 1e9 + at, count, TreeSample(cpu, 100.0, 100.0), {"kafka": kafka})


def test_cpu_per_thousand_counts_from_the_first_output_only() -> None:
    progress = Progress([_sample(0.0, 0, 0.0), _sample(1.0, 0, 2.0, 1.0), _sample(2.0, 1_000, 2.5, 1.5),
                         _sample(3.0, 5_000, 4.5, 3.5)])
    # Start-up (2 CPU-s before the first output) is not charged to the 4,000 events of the window.
    assert progress.cpu_s_per_1k() == pytest.approx(0.5)
    assert progress.server_cpu_s_per_1k() == {"kafka": pytest.approx(0.5)}


def test_cpu_per_thousand_is_none_without_progress() -> None:
    assert Progress([_sample(0.0, 0, 1.0), _sample(1.0, 0, 2.0)]).cpu_s_per_1k() is None
    assert Progress([_sample(0.0, 10, 1.0)]).cpu_s_per_1k() is None


def test_a_run_done_within_one_sample_is_charged_from_its_start() -> None:
    progress = Progress([_sample(0.0, 0, 1.0), _sample(0.1, 0, 1.5), _sample(0.2, 2_000, 2.0)])
    assert progress.cpu_s_per_1k() == pytest.approx(0.5)  # (2.0 - 1.0) / 2
