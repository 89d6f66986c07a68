"""The per-event work a hand-written peer does: decode, validate, featurise, write the score record.

Peers (``naive``, ``faust``) do the same work as the engine with the same libraries a careful user
would pick (orjson, the topic's JSON Schema compiled by fastjsonschema, the model's own feature
code) and write the same score record, so the comparison is about the pipeline, not the payload.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import orjson
from fastjsonschema import JsonSchemaException

from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models.fraud.features import FraudFeatures

_INPUT_SCHEMA_TOPIC = "fraud.transactions"


class PeerScorer:
    """Decode and validate input, build the feature matrix and the output records.

    Args:
        model_name: Stamped on every score record.
        pipeline: Stamped on every score record.
    """

    def __init__(self, model_name: str, pipeline: str) -> None:
        self._validate = SchemaRegistry(TopicCatalog.load()).validator(_INPUT_SCHEMA_TOPIC)
        self._features = FraudFeatures()
        self.model_name = model_name
        self.pipeline = pipeline
        self.rejected = 0

    def decode(self, value: bytes | None) -> dict[str, Any] | None:
        """The event, or None (counted in ``rejected``) when it is not valid JSON or not valid."""
        try:
            return self._validate(orjson.loads(value))
        except (orjson.JSONDecodeError, JsonSchemaException, TypeError):
            self.rejected += 1
            return None

    def features(self, events: list[dict[str, Any]]) -> np.ndarray:
        """float32 [len(events), n_features] for the model."""
        return self._features.extract(events)

    def record(self, event: dict[str, Any], score: float, version: str, topic: str, partition: int,
               offset: int, consumed_ms: float) -> bytes:
        """The same score record as the engine's ``fraud.scores`` (schema fraud.scores.v1)."""
        now_ms = int(time.time() * 1000)
        return orjson.dumps({
            "schema_version": 1,
            "event_id": event["event_id"],
            "score": score,
            "model": {"name": self.model_name, "version": version},
            "source": {"topic": topic, "partition": partition, "offset": offset},
            "event_time": event["event_time"],
            "scored_time": now_ms,
            "latency_ms": max(0.0, now_ms - consumed_ms),
            "pipeline": self.pipeline,
        })
