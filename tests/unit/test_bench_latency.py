"""Latency matching and percentiles of the benchmark's read_committed reader (no Kafka needed)."""

from __future__ import annotations

import orjson
import pytest

from engine.bench.latency import OutputScan, Percentiles, event_id_of, match_latencies


def _score(event_id: str) -> bytes:
    return orjson.dumps({"schema_version": 1, "event_id": event_id, "score": 0.1})


def test_event_id_of_scores_pass_through_events_and_garbage() -> None:
    assert event_id_of(_score("e-1")) == "e-1"
    assert event_id_of(b'{"event_id": "raw-7", "amount": 3}') == "raw-7"
    assert event_id_of(b"not json") is None
    assert event_id_of(b"[1, 2]") is None
    assert event_id_of(None) is None


def test_percentiles_of_known_samples() -> None:
    result = Percentiles.of(range(1, 101))
    assert result.count == 100
    assert result.p50 == pytest.approx(50.5)
    assert result.p99 == pytest.approx(99.01)
    assert Percentiles.of([]) == Percentiles(None, None, None, 0)


def test_latencies_pair_by_event_id_ignoring_warmups_and_duplicates() -> None:
    produced = {"a": 1_000, "b": 1_010, "c": 1_020}
    seen = [
        (_score("warm-up"), 990, 995),  # not measured
        (_score("a"), 1_004, 1_050),
        (_score("b"), 1_030, 1_050),
        (_score("a"), 1_200, 1_300),  # a duplicate after a retry: the first output counts
    ]
    record, visible, missing = match_latencies(seen, produced)
    assert record.count == visible.count == 2
    assert record.p50 == pytest.approx(12.0)  # (4 + 20) / 2
    assert visible.p50 == pytest.approx(45.0)  # (50 + 40) / 2
    assert missing == 1  # "c" never came out


def test_output_scan_counts_duplicates_and_span() -> None:
    scan = OutputScan(records=12, distinct=10, first_ms=1_000, last_ms=3_500)
    assert scan.duplicates == 2
    assert scan.span_s == pytest.approx(2.5)
    assert OutputScan(0, 0, None, None).span_s == 0.0
