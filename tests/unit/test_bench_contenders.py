"""Contender launchers: run specs, table order, the engine's environment, the peers' fraud score records."""

from __future__ import annotations

import sys

import numpy as np
import orjson
import pytest

from engine.bench.contenders import RunSpec, build_contenders
from engine.bench.contenders.engine import EngineContender
from engine.bench.contenders.scoring import PeerScorer
from engine.bench.settings import ALL_CONTENDERS
from engine.pipeline.contract import Source
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models.fraud.generator import FraudGenerator
from models.fraud.pipeline import FraudPipeline


def _spec(**overrides: object) -> RunSpec:
    base = dict(name="engine_eos", bootstrap="127.0.0.1:49092", input_topic="bench.r.in", output_topic="bench.r.out",
                dead_letter_topic="bench.r.dlq", group_id="bench-r-g", transactional_id="bench-r-t",
                triton_url="127.0.0.1:48001", triton_http_url="127.0.0.1:48000", model_name="fraud",
                max_rows=1024, max_delay_ms=5.0, max_in_flight=4, consume_batch=2000, commit_interval_ms=100,
                exactly_once=True)
    base.update(overrides)
    return RunSpec(**base)  # type: ignore[arg-type]


def test_spec_survives_the_command_line() -> None:
    spec = _spec(workers=2, rows=10, result_path="/tmp/x.json")
    assert RunSpec.from_json(spec.to_json()) == spec


def test_contenders_come_in_table_order_with_worker_rows_last() -> None:
    names = [c.name for c in build_contenders(ALL_CONTENDERS, workers=(2, 4))]
    assert names == [*ALL_CONTENDERS, "engine_eos_w2", "engine_eos_w4"]


def test_only_the_triton_ceiling_is_standalone_and_only_naive_is_time_capped() -> None:
    contenders = {c.name: c for c in build_contenders(ALL_CONTENDERS)}
    assert [n for n, c in contenders.items() if c.standalone] == ["triton_ceiling"]
    assert [n for n, c in contenders.items() if c.time_capped] == ["naive"]
    assert contenders["engine_eos"].transactional and contenders["kafka_ceiling"].transactional
    assert not contenders["engine_alo"].transactional and not contenders["faust"].transactional


def test_engine_runs_serve_pointed_at_the_run_topics() -> None:
    contender = EngineContender(exactly_once=False, workers=3)
    spec = _spec(exactly_once=False, workers=3)
    argv, env = contender.command(spec), contender.env(spec)
    assert argv[:4] == [sys.executable, "-m", "engine.cli.main", "serve"]
    assert argv[argv.index("--delivery") + 1] == "at-least-once"
    assert argv[argv.index("--workers") + 1] == "3"
    assert env["STREAMINFER_TOPICS__INPUT"] == "bench.r.in"
    assert env["STREAMINFER_TOPICS__INPUT_SCHEMA"] == "fraud.transactions"
    assert env["STREAMINFER_TOPICS__OUTPUT"] == "bench.r.out"
    assert env["STREAMINFER_KAFKA__GROUP_ID"] == "bench-r-g"
    assert env["STREAMINFER_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:49092"
    assert contender.name == "engine_alo_w3"


@pytest.fixture(scope="module")
def scorer() -> PeerScorer:
    return PeerScorer(FraudPipeline(), "fraud.transactions", "fraud", "naive")


def test_peer_score_records_follow_the_scores_schema(scorer: PeerScorer) -> None:
    events, _ = FraudGenerator(seed=3).batch(4)
    decoded = [scorer.decode(orjson.dumps(event)) for event in events]
    assert decoded == events
    positions, inputs = scorer.encode(decoded)
    assert positions == [0, 1, 2, 3] and inputs is not None
    assert inputs.tensors["features"].shape[0] == inputs.rows == 4
    validate = SchemaRegistry(TopicCatalog.load()).validator("fraud.scores")
    outputs = {"score": np.array([[0.25]], np.float32)}
    (value,) = scorer.records(decoded[:1], outputs, inputs.layout, [Source("bench.r.in", 2, 17)], "1",
                              consumed_ms=0.0)
    record = orjson.loads(value)
    validate(record)
    assert record["score"] == 0.25 and record["pipeline"] == "naive"
    assert record["event_id"] == events[0]["event_id"]
    assert record["source"] == {"topic": "bench.r.in", "partition": 2, "offset": 17}


def test_peer_rejects_bad_input_and_counts_it(scorer: PeerScorer) -> None:
    before = scorer.rejected
    assert scorer.decode(b"{not json") is None
    assert scorer.decode(orjson.dumps({"schema_version": 1})) is None
    assert scorer.decode(None) is None
    assert scorer.rejected == before + 3
