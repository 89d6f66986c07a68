"""Output records of a micro-batch: the plugin's record per valid event, one dead letter per rejected record."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from engine.batching.micro_batch import MicroBatch
from engine.codec.dlq import dead_letter_headers
from engine.pipeline.contract import OutputStamp, PipelinePlugin, Source


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
    plugin: PipelinePlugin
    mirror_topic: str = ""


def batch_records(batch: MicroBatch, ctx: RecordContext) -> tuple[list[OutputRecord], np.ndarray, dict[str, int]]:
    """Output records for ``batch`` in input order, end-to-end latencies (s) of the served records
    (from their input record timestamps) and dead-letter counts by reason.

    Outputs and dead letters are interleaved exactly as their inputs were, so a reader of either topic
    sees each partition's records in input order. Outputs keep their input record's key.
    """
    now_ms = int(time.time() * 1000)
    messages, good_index = batch.messages, batch.good_index
    values: list[bytes] = []
    mirrored: list[OutputRecord] = []
    if good_index and batch.parts:
        values, mirrored = _part_values(batch, ctx, now_ms)
    elif good_index:
        good = [messages[i] for i in good_index]
        stamp = OutputStamp(ctx.pipeline, ctx.model_name, batch.model_version, now_ms,
                            max(0.0, now_ms - batch.consumed_at * 1000.0))
        sources = [Source(m.topic(), m.partition(), m.offset()) for m in good]
        values = ctx.plugin.records(batch.events, batch.outputs, batch.inputs.layout, sources, stamp)
        if len(values) != len(good):
            raise RuntimeError(f"plugin {ctx.plugin.name!r} returned {len(values)} records for {len(good)} events")
    records, latencies, dead = _interleave(batch, ctx, values, now_ms)
    return records + mirrored, latencies, dead


def _part_values(batch: MicroBatch, ctx: RecordContext, now_ms: int) -> tuple[list[bytes], list[OutputRecord]]:
    """Record values in event order, each from the part (version) that scored it, and the mirror
    records of the candidate's outputs for mirrored events (after the batch's own records)."""
    messages, good_index = batch.messages, batch.good_index
    values: list[bytes | None] = [None] * len(good_index)
    mirrored: list[OutputRecord] = []
    latency_ms = max(0.0, now_ms - batch.consumed_at * 1000.0)
    for part in batch.parts:
        if part.outputs is None:
            continue  # a mirror part that gave up: best effort
        good = [messages[good_index[p]] for p in part.positions]
        stamp = OutputStamp(ctx.pipeline, ctx.model_name, part.served_version, now_ms, latency_ms)
        sources = [Source(m.topic(), m.partition(), m.offset()) for m in good]
        part_values = ctx.plugin.records([batch.events[p] for p in part.positions], part.outputs,
                                         part.inputs.layout, sources, stamp)
        if len(part_values) != len(good):
            raise RuntimeError(f"plugin {ctx.plugin.name!r} returned {len(part_values)} records for {len(good)} events")
        if part.role == "mirror":
            if ctx.mirror_topic:
                mirrored.extend(OutputRecord(ctx.mirror_topic, m.key(), v) for m, v in zip(good, part_values))
            continue
        for position, value in zip(part.positions, part_values):
            values[position] = value
    missing = [p for p, value in enumerate(values) if value is None]
    if missing:
        raise RuntimeError(f"batch {batch.seq}: {len(missing)} events scored by no part")
    return values, mirrored


def _interleave(batch: MicroBatch, ctx: RecordContext, values: list[bytes], now_ms: int):
    messages = batch.messages
    if not batch.rejects:  # the common case: every record served, nothing to interleave
        output_topic = ctx.output_topic
        records = [OutputRecord(output_topic, m.key(), v) for m, v in zip(messages, values)]
        return records, _latencies(messages, now_ms), {}
    rejects = {r.index: r for r in batch.rejects}
    records: list[OutputRecord] = []
    served = []
    dead: dict[str, int] = {}
    row = 0
    for position, message in enumerate(messages):
        reject = rejects.get(position)
        if reject is None:
            records.append(OutputRecord(ctx.output_topic, message.key(), values[row]))
            served.append(message)
            row += 1
            continue
        headers = dead_letter_headers(message.headers() or [], reject.reason, reject.message, message.topic(),
                                      message.partition(), message.offset(), ctx.worker, ctx.pipeline, now_ms)
        records.append(OutputRecord(ctx.dead_letter_topic, message.key(), message.value(), headers))
        dead[reject.reason.value] = dead.get(reject.reason.value, 0) + 1
    return records, _latencies(served, now_ms), dead


def _latencies(messages, now_ms: int) -> np.ndarray:
    stamps = np.asarray([m.timestamp()[1] for m in messages], dtype=np.float64)
    return (now_ms - stamps[stamps > 0]) / 1000.0  # records without a timestamp are not measured
