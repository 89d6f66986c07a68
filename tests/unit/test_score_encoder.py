"""The template score encoder writes exactly the document orjson would, and it validates."""

import fastjsonschema
import orjson
from hypothesis import given
from hypothesis import strategies as st

from models.fraud.scores import SCORE_SCHEMA_VERSION, ScoreEncoder
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog

VALIDATE = SchemaRegistry(TopicCatalog.load()).validator("fraud.scores")


@given(event_id=st.text(min_size=1, max_size=40), score=st.floats(0.0, 1.0, width=32),
       topic=st.text(min_size=1, max_size=20), partition=st.integers(0, 10_000), offset=st.integers(0, 2**62),
       event_time=st.integers(0, 2**45), latency=st.floats(0, 1e6), version=st.text(max_size=5),
       pipeline=st.sampled_from(["fraud", "x\"y", "é"]))
def test_template_equals_orjson_document(event_id, score, topic, partition, offset, event_time, latency, version,
                                        pipeline) -> None:
    encoded = ScoreEncoder(pipeline, "fraud", version, 1_700_000_000_000, latency).encode(
        event_id, score, topic, partition, offset, event_time)
    expected = {"schema_version": SCORE_SCHEMA_VERSION, "event_id": event_id, "score": score,
                "model": {"name": "fraud", "version": version},
                "source": {"topic": topic, "partition": partition, "offset": offset}, "event_time": event_time,
                "scored_time": 1_700_000_000_000, "latency_ms": latency, "pipeline": pipeline}
    assert orjson.loads(encoded) == expected


def test_encoded_record_validates_against_the_topic_schema() -> None:
    record = orjson.loads(ScoreEncoder("fraud", "fraud", "1", 1_795_000_000_000, 3.5).encode(
        "abc-1", 0.25, "fraud.transactions", 2, 17, 1_735_689_600_000))
    try:
        VALIDATE(record)
    except fastjsonschema.JsonSchemaException as exc:  # pragma: no cover - message on failure
        raise AssertionError(exc.message) from None
