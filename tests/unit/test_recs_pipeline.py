"""The recs plugin on the contract: vectorised top-k equals a per-request sort, records validate against
recs.ranked, bad requests are dead-lettered with the decided reasons (real decoder and batch builder)."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pytest
from confluent_kafka import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.batching.batch_builder import BatchBuilder
from engine.codec.decode import EventDecoder
from engine.config.pipeline import load_pipeline
from engine.errors import ConfigError
from engine.pipeline.contract import OutputStamp, Source
from engine.pipeline.loader import load_plugin
from engine.publish.records import RecordContext, batch_records
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models.recs.pipeline import RecsPipeline
from models.recs.topk import top_k_per_request

REGISTRY = SchemaRegistry(TopicCatalog.load())
RANKED = REGISTRY.validator("recs.ranked")
STAMP = OutputStamp("recs", "recs", "3", 1_767_225_600_500, 4.0)


def _request(i: int, candidates: list, **extra) -> dict:
    return {"schema_version": 1, "request_id": f"r{i}", "user_id": f"u{i % 7}", "candidates": candidates,
            "context": {"device": "ios", "surface": "home", "hour": i % 24}, "request_time": 1_767_225_600_000,
            **extra}


def _messages(values: list[bytes]) -> list[Message]:
    return [Message(topic="recs.requests", partition=0, offset=i, key=b"u", value=v,
                    timestamp=(1, int(time.time() * 1000))) for i, v in enumerate(values)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(-5, 5), min_size=1, max_size=30), st.integers(1, 40)),
                min_size=1, max_size=12))
def test_vectorised_top_k_equals_a_stable_sort_per_request(requests) -> None:
    scores = np.array([s for values, _ in requests for s in values], dtype=np.float32) / 4  # many ties
    offsets = np.cumsum([0] + [len(values) for values, _ in requests])
    ks = np.array([k for _, k in requests])
    rows, kept = top_k_per_request(scores, offsets, ks)
    expected, at = [], 0
    for (values, k), start in zip(requests, offsets[:-1]):
        order = sorted(range(len(values)), key=lambda j: (-scores[start + j], j))[:k]
        expected.extend(int(start + j) for j in order)
    assert rows.tolist() == expected
    assert kept.tolist() == [min(k, len(values)) for values, k in requests]


def test_records_rank_distinct_candidates_and_validate_against_recs_ranked() -> None:
    plugin = RecsPipeline()
    events = [_request(0, ["a", "b", "a", "c"], k=2), _request(1, ["x"]), _request(2, ["é", "ü", "b"], k=10)]
    inputs = plugin.encode(events)
    assert inputs.rows == 3 + 1 + 3, "duplicates are de-duplicated before Triton"
    assert inputs.tensors["user_bucket"].dtype == np.int64 and inputs.tensors["context"].dtype == np.float32
    scores = np.array([[0.1], [0.9], [0.5], [0.3], [0.2], [0.8], [0.4]], dtype=np.float32)
    sources = [Source("recs.requests", 0, i) for i in range(3)]
    records = [orjson.loads(r) for r in plugin.records(events, {"score": scores}, inputs.layout, sources, STAMP)]
    for record in records:
        RANKED(record)
    assert [(i["item_id"], i["rank"]) for i in records[0]["items"]] == [("b", 1), ("c", 2)]
    assert [i["item_id"] for i in records[1]["items"]] == ["x"]
    assert [i["item_id"] for i in records[2]["items"]] == ["ü", "b", "é"], "k above the distinct count returns all"
    assert records[2]["source"] == {"topic": "recs.requests", "partition": 0, "offset": 2}
    assert records[0]["model"] == {"name": "recs", "version": "3"}


def test_bad_requests_are_dead_lettered_with_the_decided_reasons() -> None:
    settings = load_pipeline("recs")
    plugin = load_plugin(settings.plugin, {"max_candidates": 5})
    builder = BatchBuilder(EventDecoder(REGISTRY.validator("recs.requests")), plugin, 100, 1.0)
    values = [
        orjson.dumps(_request(0, ["a", "b"])),
        orjson.dumps(_request(1, [])),                                   # nothing to rank
        orjson.dumps(_request(2, ["a", "b", "c", "d", "e", "f"])),       # 6 distinct > 5
        orjson.dumps(_request(3, ["a", "a", "a", "a", "a", "a", "b"])),  # 7 listed, 2 distinct: fine
        orjson.dumps(_request(4, ["a", 7])),                             # non-string id
        orjson.dumps({k: v for k, v in _request(5, ["a"]).items() if k != "user_id"}),
        orjson.dumps(_request(6, ["a"], k=0)),
        orjson.dumps(_request(7, ["a"], k=2.5)),
        orjson.dumps(_request(8, ["a"], k="3")),
        b'{"schema_version": 1, "request_id": "r9", "user_id": "u", "candidates": ["a"]',  # cut short
    ]
    batch = builder.build(1, 0, _messages(values), time.time())
    assert batch.good_index == [0, 3]
    reasons = {r.index: r.reason.value for r in batch.rejects}
    assert reasons == {1: "schema_violation", 2: "limit_exceeded", 4: "schema_violation", 5: "schema_violation",
                       6: "schema_violation", 7: "schema_violation", 8: "schema_violation", 9: "not_json"}
    assert "max_candidates=5" in next(r.message for r in batch.rejects if r.index == 2)
    assert batch.inputs.rows == 2 + 2

    batch.outputs, batch.model_version = {"score": np.array([[1.0], [2.0], [3.0], [0.5]], np.float32)}, "1"
    ctx = RecordContext("recs", "w0", "recs.ranked", "recs.dlq", "recs", plugin)
    records, _, dead = batch_records(batch, ctx)
    assert [r.topic for r in records].count("recs.ranked") == 2 and sum(dead.values()) == 8
    assert [i["item_id"] for i in orjson.loads(records[0].value)["items"]] == ["b", "a"]


def test_cold_users_and_items_are_ranked_not_rejected() -> None:
    plugin = RecsPipeline()
    inputs = plugin.encode([_request(0, ["never-seen-1", "never-seen-2"], user_id="brand-new-user")])
    assert inputs.rows == 2 and (inputs.tensors["item_bucket"] >= 0).all()


def test_max_candidates_is_validated_at_start() -> None:
    with pytest.raises(ConfigError, match="max_candidates"):
        load_plugin("models.recs.pipeline:RecsPipeline", {"max_candidates": 5000})
    with pytest.raises(ConfigError, match="plugin_options.typo"):
        load_plugin("models.recs.pipeline:RecsPipeline", {"typo": 1})
