"""Micro-batching and output records, with the real decoder and the fraud plugin but no Kafka."""

from __future__ import annotations

import time

import numpy as np
import orjson
from confluent_kafka import Message

from engine.batching.batch_builder import BatchBuilder
from engine.codec.decode import EventDecoder
from engine.publish.records import RecordContext, batch_records
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models.fraud.features import FraudFeatures
from models.fraud.generator import FraudGenerator
from models.fraud.pipeline import FraudPipeline

REGISTRY = SchemaRegistry(TopicCatalog.load())
CONTEXT = RecordContext("fraud", "w0", "fraud.scores", "fraud.dlq", "fraud", FraudPipeline())


def _builder(max_rows: int = 4, max_delay_s: float = 60.0, plugin=None) -> BatchBuilder:
    decoder = EventDecoder(REGISTRY.validator("fraud.transactions"))
    return BatchBuilder(decoder, plugin or FraudPipeline(), max_rows, max_delay_s)


def _messages(values: list[bytes], partition: int = 0) -> list[Message]:
    return [Message(topic="in", partition=partition, offset=i, key=f"k{i}".encode(), value=v,
                    timestamp=(1, int(time.time() * 1000)), headers=[("h", b"1")]) for i, v in enumerate(values)]


def test_cuts_at_max_rows_and_keeps_order() -> None:
    events, _ = FraudGenerator(seed=1).batch(10)
    builder = _builder(max_rows=4)
    builder.add(_messages([orjson.dumps(e) for e in events]))
    batches = [builder.cut(epoch=0) for _ in range(3)]
    assert [len(b.messages) for b in batches[:2]] == [4, 4]
    assert batches[2] is None, "2 records left: not full, deadline not reached"
    assert builder.cut(epoch=0, force=True).seq == 3
    assert [b.seq for b in batches[:2]] == [1, 2]
    assert batches[1].next_positions() == {("in", 0): 8}


def test_deadline_cuts_a_partial_batch() -> None:
    events, _ = FraudGenerator(seed=2).batch(2)
    builder = _builder(max_rows=100, max_delay_s=0.01)
    builder.add(_messages([orjson.dumps(e) for e in events]))
    assert builder.cut(epoch=0) is None
    time.sleep(0.02)
    assert builder.ready() and len(builder.cut(epoch=0).messages) == 2


def test_bad_records_are_rejected_and_the_rest_scored_in_input_order() -> None:
    events, _ = FraudGenerator(seed=3).batch(3)
    values = [orjson.dumps(events[0]), b"not json", orjson.dumps(events[1]), b"", orjson.dumps(events[2])]
    batch = _builder(max_rows=10).build(1, 0, _messages(values), time.time())
    assert batch.good_index == [0, 2, 4]
    assert [r.reason.value for r in batch.rejects] == ["not_json", "empty_value"]
    features = batch.inputs.tensors["features"]
    assert features.shape == (3, len(FraudFeatures.FEATURE_NAMES)) and features.dtype == np.float32
    assert batch.inputs.rows == 3

    batch.outputs, batch.model_version = {"score": np.array([[0.1], [0.2], [0.3]], dtype=np.float32)}, "1"
    records, latencies, dead = batch_records(batch, CONTEXT)
    assert [r.topic for r in records] == ["fraud.scores", "fraud.dlq", "fraud.scores", "fraud.dlq", "fraud.scores"]
    assert dead == {"not_json": 1, "empty_value": 1} and latencies.shape == (3,)
    score = orjson.loads(records[2].value)
    assert score["event_id"] == events[1]["event_id"] and abs(score["score"] - 0.2) < 1e-6
    assert score["model"] == {"name": "fraud", "version": "1"}
    assert score["source"] == {"topic": "in", "partition": 0, "offset": 2}
    assert records[2].key == b"k2"
    dlq = records[1]
    assert dlq.value == b"not json" and dlq.key == b"k1"
    headers = dict(dlq.headers)
    assert headers["h"] == b"1" and headers["streaminfer.dlq.reason"] == b"not_json"
    assert headers["streaminfer.dlq.offset"] == b"1" and headers["streaminfer.dlq.worker"] == b"w0"


class _BrokenOnce(FraudPipeline):
    """Encoding that fails for one specific event (as a buggy or hostile value would)."""

    def encode(self, events):
        if any(e["merchant_id"] == "BOOM" for e in events):
            raise ValueError("cannot featurise merchant BOOM")
        return super().encode(events)


def test_feature_extraction_failure_isolates_the_event() -> None:
    events, _ = FraudGenerator(seed=4).batch(3)
    events[1]["merchant_id"] = "BOOM"
    batch = _builder(max_rows=10, plugin=_BrokenOnce()).build(1, 0, _messages([orjson.dumps(e) for e in events]),
                                                                time.time())
    assert batch.good_index == [0, 2]
    assert [(r.index, r.reason.value) for r in batch.rejects] == [(1, "feature_extraction_failed")]
    assert "BOOM" in batch.rejects[0].message
    assert batch.inputs.rows == 2 and batch.inputs.tensors["features"].shape[0] == 2


def test_a_batch_of_only_rejects_needs_no_inference() -> None:
    batch = _builder(max_rows=10).build(1, 0, _messages([b"[]", b"{}"]), time.time())
    assert not batch.needs_inference and len(batch.rejects) == 2


class _NaNForBoom(FraudPipeline):
    """A plugin whose tensors come out non-finite for one event (the engine, not the plugin, checks)."""

    def encode(self, events):
        inputs = super().encode(events)
        for row, event in enumerate(events):
            if event["merchant_id"] == "BOOM":
                inputs.tensors["features"][row, 1] = np.nan
        return inputs


def test_non_finite_inputs_are_dead_lettered_naming_the_feature() -> None:
    events, _ = FraudGenerator(seed=5).batch(3)
    events[2]["merchant_id"] = "BOOM"
    batch = _builder(max_rows=10, plugin=_NaNForBoom()).build(1, 0, _messages([orjson.dumps(e) for e in events]),
                                                                time.time())
    assert batch.good_index == [0, 1]
    assert batch.rejects[0].message == f"non-finite feature(s): {FraudFeatures.FEATURE_NAMES[1]}"
