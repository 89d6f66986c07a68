"""Output records of a micro-batch: one score per valid event, one dead letter per rejected record."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import orjson

from engine.batching.micro_batch import MicroBatch
from engine.codec.dlq import dead_letter_headers

SCORE_SCHEMA_VERSION = 1


class OutputRecord(NamedTuple):
    """A record to produce: topic, key, value, headers (a tuple: built once per event)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] | None = None


@dataclass(frozen=True, slots=True)
class RecordContext:
    """Constant context stamped on every output record of a worker."""

    pipeline: str
    worker: str
    output_topic: str
    dead_letter_topic: str
    model_name: str


class ScoreEncoder:
    """Encodes ``fraud.scores`` records (see ``topics/schemas/fraud.scores.v1.json``).

    The fields that are the same for a whole batch are serialised once; per event only the event
    id (JSON-escaped by orjson), the score, the source position and the event time are formatted.
    The output is byte-for-byte valid JSON equal, as a document, to ``orjson.dumps`` of the record.
    """

    def __init__(self, ctx: RecordContext, model_version: str, now_ms: int, latency_ms: float) -> None:
        dumps = orjson.dumps
        self._head = b'{"schema_version":%d,"event_id":' % SCORE_SCHEMA_VERSION
        self._model = dumps({"name": ctx.model_name, "version": model_version})
        self._tail = b',"scored_time":%d,"latency_ms":%b,"pipeline":%b}' % (
            now_ms, dumps(latency_ms), dumps(ctx.pipeline))
        self._topics: dict[str, bytes] = {}

    def encode(self, event_id: str, score: float, topic: str, partition: int, offset: int, event_time: int) -> bytes:
        """One score record. ``score`` must be finite (the inference client guarantees it)."""
        encoded_topic = self._topics.get(topic)
        if encoded_topic is None:
            encoded_topic = self._topics[topic] = orjson.dumps(topic)
        return b'%b%b,"score":%r,"model":%b,"source":{"topic":%b,"partition":%d,"offset":%d},"event_time":%d%b' % (
            self._head, orjson.dumps(event_id), score, self._model, encoded_topic, partition, offset, event_time,
            self._tail)


def batch_records(batch: MicroBatch, ctx: RecordContext) -> tuple[list[OutputRecord], np.ndarray, dict[str, int]]:
    """Output records for ``batch`` in input order, end-to-end latencies (s) of the scored records
    (from their input record timestamps) and dead-letter counts by reason.

    Scores and dead letters are interleaved exactly as their inputs were, so a reader of either topic
    sees each partition's records in input order.
    """
    now_ms = int(time.time() * 1000)
    encoder = ScoreEncoder(ctx, batch.model_version, now_ms, max(0.0, now_ms - batch.consumed_at * 1000.0))
    encode = encoder.encode
    scores = batch.scores.tolist() if batch.scores is not None else []
    rejects = {r.index: r for r in batch.rejects}
    records: list[OutputRecord] = []
    produced_at: list[int] = []
    dead: dict[str, int] = {}
    output_topic = ctx.output_topic
    row = 0
    for position, message in enumerate(batch.messages):
        reject = rejects.get(position) if rejects else None
        if reject is None:
            event = batch.events[row]
            value = encode(event["event_id"], scores[row], message.topic(), message.partition(), message.offset(),
                           event["event_time"])
            records.append(OutputRecord(output_topic, message.key(), value))
            produced_at.append(message.timestamp()[1])
            row += 1
            continue
        headers = dead_letter_headers(message.headers() or [], reject.reason, reject.message, message.topic(),
                                      message.partition(), message.offset(), ctx.worker, ctx.pipeline, now_ms)
        records.append(OutputRecord(ctx.dead_letter_topic, message.key(), message.value(), headers))
        dead[reject.reason.value] = dead.get(reject.reason.value, 0) + 1
    stamps = np.asarray(produced_at, dtype=np.float64)
    latencies = (now_ms - stamps[stamps > 0]) / 1000.0  # records without a timestamp are not measured
    return records, latencies, dead
