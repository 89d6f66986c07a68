"""The bench's generic paths on the recs plugin (events ≠ rows): peers' records, Triton tensors, the ceiling's
batches, the dataset, matching by request id, the rows/s column (no Kafka or Triton needed)."""

from __future__ import annotations

import io
from itertools import islice
from typing import Any

import numpy as np
import orjson
import pytest
from rich.console import Console

import engine.bench.dataset as dataset_module
from engine.bench.contenders.scoring import PeerScorer
from engine.bench.contenders.tensors import infer_inputs, outputs_of, requested_outputs
from engine.bench.contenders.triton_ceiling import prepare_batches
from engine.bench.dataset import Dataset
from engine.bench.latency import event_id_of, match_latencies
from engine.bench.report import render_table, shows_rows
from engine.bench.results import BenchReport, ContenderResult, check_targets, compute_ratios
from engine.pipeline.contract import Source
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models.fraud.pipeline import FraudPipeline
from models.recs.pipeline import RecsOptions, RecsPipeline


@pytest.fixture(scope="module")
def recs() -> RecsPipeline:
    return RecsPipeline()


@pytest.fixture(scope="module")
def requests(recs: RecsPipeline) -> list[dict[str, Any]]:
    return list(islice(recs.synthetic_events(11), 6))


def test_peer_writes_the_engine_recs_records(recs: RecsPipeline, requests: list[dict[str, Any]]) -> None:
    scorer = PeerScorer(recs, "recs.requests", "recs", "faust")
    decoded = [scorer.decode(orjson.dumps(event)) for event in requests]
    assert decoded == requests
    positions, inputs = scorer.encode(decoded)
    assert positions == list(range(6)) and inputs is not None and inputs.rows > 6
    scores = {"score": np.linspace(0, 1, inputs.rows, dtype=np.float32).reshape(-1, 1)}
    sources = [Source("bench.r.in", 0, i) for i in range(6)]
    values = scorer.records(decoded, scores, inputs.layout, sources, "1", consumed_ms=0.0)
    validate = SchemaRegistry(TopicCatalog.load()).validator("recs.ranked")
    for value, event, source in zip(values, requests, sources):
        record = validate(orjson.loads(value))
        assert record["request_id"] == event["request_id"] and record["pipeline"] == "faust"
        assert record["source"]["offset"] == source.offset and record["items"]


def test_peer_drops_only_the_event_its_plugin_refuses(requests: list[dict[str, Any]]) -> None:
    sizes = [len(set(event["candidates"])) for event in requests]
    limit = sorted(sizes)[len(sizes) // 2]  # about half the requests have more distinct candidates
    scorer = PeerScorer(RecsPipeline(RecsOptions(max_candidates=limit)), "recs.requests", "recs", "naive")
    positions, inputs = scorer.encode(requests)
    assert 0 < len(positions) < len(requests)
    assert positions == [i for i, size in enumerate(sizes) if size <= limit]
    assert inputs is not None and inputs.rows == sum(sizes[i] for i in positions)
    assert scorer.rejected == len(requests) - len(positions)
    assert scorer.encode([requests[sizes.index(max(sizes))]]) == ([], None)


def test_every_named_tensor_goes_to_triton_with_its_dtype(recs: RecsPipeline,
                                                          requests: list[dict[str, Any]]) -> None:
    inputs = recs.encode(requests)
    tensors = infer_inputs(inputs, recs.model_inputs)
    assert [(t.name(), t.datatype(), t.shape()) for t in tensors] == [
        ("user_bucket", "INT64", [inputs.rows, 1]), ("item_bucket", "INT64", [inputs.rows, 1]),
        ("context", "FP32", [inputs.rows, 10])]
    assert [o.name() for o in requested_outputs(recs.model_outputs)] == ["score"]

    class _Result:
        def as_numpy(self, name: str) -> np.ndarray:
            return np.full((inputs.rows, 1), 0.5, np.float32) if name == "score" else None

    assert outputs_of(_Result(), ("score",))["score"].shape == (inputs.rows, 1)


def test_ceiling_batches_are_whole_encoded_event_batches(recs: RecsPipeline) -> None:
    batches = prepare_batches(recs, seed=5, events_per_batch=8, rows=1_000)
    assert all(events == 8 for events, _ in batches)
    rows = [inputs.rows for _, inputs in batches]
    assert sum(rows) >= 1_000 and sum(rows[:-1]) < 1_000  # stops at the first batch past the target
    assert prepare_batches(recs, seed=5, events_per_batch=8, rows=1)[0][1].rows == rows[0]
    fraud = prepare_batches(FraudPipeline(), seed=5, events_per_batch=100, rows=250)
    assert [(events, inputs.rows) for events, inputs in fraud] == [(100, 100)] * 3


class _Producer:
    """Collects what Dataset.produce sends (confluent_kafka.Producer's surface it uses)."""

    sent: list[tuple[str, bytes, bytes]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        _Producer.sent = []

    def produce(self, topic: str, value: bytes, key: bytes, timestamp: int = 0) -> None:
        _Producer.sent.append((topic, key, value))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def test_dataset_keys_by_entity_pools_output_ids_and_counts_rows(monkeypatch: pytest.MonkeyPatch,
                                                               recs: RecsPipeline) -> None:
    monkeypatch.setattr(dataset_module, "Producer", _Producer)
    data = Dataset.produce("127.0.0.1:1", "bench.in", count=50, seed=3, keep=10, plugin=recs,
                           id_field="request_id", chunk=16)
    events = list(islice(recs.synthetic_events(3), 50))
    assert [orjson.loads(value) for _, _, value in _Producer.sent] == events
    assert [key for _, key, _ in _Producer.sent] == [event["user_id"].encode() for event in events]
    assert [output_id for _, _, output_id in data.pool] == [event["request_id"] for event in events[:10]]
    assert data.rows == sum(len(set(event["candidates"])) for event in events)
    assert data.rows_per_event == pytest.approx(data.rows / 50)
    assert Dataset(1, 0).rows_per_event == 1.0


def test_outputs_match_inputs_by_the_pipeline_id_field() -> None:
    ranked = orjson.dumps({"request_id": "r-1", "event_id": "not-this", "items": []})
    assert event_id_of(ranked, "request_id") == "r-1"
    seen = [(ranked, 1_010, 1_020), (orjson.dumps({"request_id": "r-2"}), 1_030, 1_040)]
    record, visible, missing = match_latencies(seen, {"r-1": 1_000, "r-3": 1_000}, "request_id")
    assert (record.count, record.p50, visible.p50, missing) == (1, 10.0, 20.0, 1)


def _report(rows_per_event: float) -> BenchReport:
    rows = [ContenderResult("kafka_ceiling", 4_000.0, complete=True),
            ContenderResult("triton_ceiling", 28_000.0, rows_per_s=1_500_000.0, complete=True),
            ContenderResult("engine_eos", 4_500.0, 200.0, 300.0, 400.0, 0.07, 110.0,
                            rows_per_s=4_500.0 * rows_per_event)]
    by_name = {row.name: row for row in rows}
    ratios = compute_ratios(by_name)
    return BenchReport(rows, ratios, check_targets(by_name, ratios, 100), {"logical_cores": 2},
                       {"pipeline": "recs", "rows_per_event": rows_per_event, "input_schema": "recs.requests",
                        "events": 10})


def test_rows_column_only_when_events_are_not_one_row_each() -> None:
    assert shows_rows(_report(53.0)) and not shows_rows(_report(1.0))
    buffer = io.StringIO()
    render_table(_report(53.0), Console(file=buffer, width=220))
    text = buffer.getvalue()
    assert "rows/s" in text and "1,500,000" in text and "238,500" in text and "53.0 per event" in text
    assert "streaminfer bench — recs" in text
    buffer = io.StringIO()
    render_table(_report(1.0), Console(file=buffer, width=220))
    assert "rows/s" not in buffer.getvalue()


def test_bound_uses_the_ceiling_in_events_so_recs_ratios_compare_like_with_like() -> None:
    ratios = _report(53.0).ratios
    assert ratios["bound_events_per_s"] == pytest.approx(1 / (1 / 4_000 + 1 / 28_000), abs=0.1)
    assert _report(53.0).to_json()["rows"][1]["rows_per_s"] == 1_500_000.0
