"""Output records of a micro-batch: one score per valid event, one dead letter per rejected record."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import orjson

from engine.batching.micro_batch import MicroBatch
from engine.codec.dlq import dead_letter_headers

SCORE_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """A record to produce: topic, key, value, headers."""

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


def batch_records(batch: MicroBatch, ctx: RecordContext) -> tuple[list[OutputRecord], np.ndarray, dict[str, int]]:
    """Output records for ``batch`` in input order, end-to-end latencies (s) of the scored records
    (from their input record timestamps) and dead-letter counts by reason.

    Scores and dead letters are interleaved exactly as their inputs were, so a reader of either topic
    sees each partition's records in input order.
    """
    now_ms = int(time.time() * 1000)
    engine_latency_ms = max(0.0, now_ms - batch.consumed_at * 1000.0)
    scores = batch.scores.tolist() if batch.scores is not None else []
    model = {"name": ctx.model_name, "version": batch.model_version}
    by_index: dict[int, int] = {index: row for row, index in enumerate(batch.good_index)}
    rejects = {r.index: r for r in batch.rejects}
    records: list[OutputRecord] = []
    produced_at: list[int] = []
    dead: dict[str, int] = {}
    dumps = orjson.dumps
    for position, message in enumerate(batch.messages):
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        row = by_index.get(position)
        if row is not None:
            event = batch.events[row]
            value = dumps({
                "schema_version": SCORE_SCHEMA_VERSION,
                "event_id": event["event_id"],
                "score": scores[row],
                "model": model,
                "source": {"topic": topic, "partition": partition, "offset": offset},
                "event_time": event["event_time"],
                "scored_time": now_ms,
                "latency_ms": engine_latency_ms,
                "pipeline": ctx.pipeline,
            })
            records.append(OutputRecord(ctx.output_topic, message.key(), value))
            produced_at.append(message.timestamp()[1])
            continue
        reject = rejects[position]
        headers = dead_letter_headers(message.headers() or [], reject.reason, reject.message, topic, partition,
                                      offset, ctx.worker, ctx.pipeline, now_ms)
        records.append(OutputRecord(ctx.dead_letter_topic, message.key(), message.value(), headers))
        dead[reject.reason.value] = dead.get(reject.reason.value, 0) + 1
    stamps = np.asarray(produced_at, dtype=np.float64)
    latencies = (now_ms - stamps[stamps > 0]) / 1000.0  # records without a timestamp are not measured
    return records, latencies, dead


def iter_positions(batch: MicroBatch) -> Iterator[tuple[tuple[str, int], int]]:
    """(topic, partition) → next offset for every partition the batch touched."""
    yield from batch.next_positions().items()
