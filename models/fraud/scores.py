"""Encodes ``fraud.scores`` records (see ``topics/schemas/fraud.scores.v1.json``) from a template."""

from __future__ import annotations

import orjson

SCORE_SCHEMA_VERSION = 1


class ScoreEncoder:
    """The fields that are the same for a whole batch are serialised once; per event only the event
    id (JSON-escaped by orjson), the score, the source position and the event time are formatted.
    The output is byte-for-byte valid JSON equal, as a document, to ``orjson.dumps`` of the record.

    Args:
        pipeline: Pipeline name stamped on every record.
        model_name: Triton model name.
        model_version: Version Triton reported for this batch.
        now_ms: ``scored_time`` of every record.
        latency_ms: Batch latency (consume → publish).
    """

    def __init__(self, pipeline: str, model_name: str, model_version: str, now_ms: int, latency_ms: float) -> None:
        dumps = orjson.dumps
        self._head = b'{"schema_version":%d,"event_id":' % SCORE_SCHEMA_VERSION
        self._model = dumps({"name": model_name, "version": model_version})
        self._tail = b',"scored_time":%d,"latency_ms":%b,"pipeline":%b}' % (
            now_ms, dumps(latency_ms), dumps(pipeline))
        self._topics: dict[str, bytes] = {}

    def encode(self, event_id: str, score: float, topic: str, partition: int, offset: int, event_time: int) -> bytes:
        """One score record. ``score`` must be finite (the inference client guarantees it)."""
        encoded_topic = self._topics.get(topic)
        if encoded_topic is None:
            encoded_topic = self._topics[topic] = orjson.dumps(topic)
        return b'%b%b,"score":%r,"model":%b,"source":{"topic":%b,"partition":%d,"offset":%d},"event_time":%d%b' % (
            self._head, orjson.dumps(event_id), score, self._model, encoded_topic, partition, offset, event_time,
            self._tail)
