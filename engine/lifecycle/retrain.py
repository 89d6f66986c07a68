"""Retrain from the stream: the newest inputs and labels read back from Kafka → the plugin trains N+1.

The engine's part is domain-free: read the newest records of the pipeline's input topic and of its
labels topic (read_committed, no consumer group, nothing committed), drop what does not decode or does
not match the topics' JSON Schemas, check that enough labels join the inputs by the plugin's key field,
and call the plugin::

    plugin.retrain(repository, inputs, labels, provenance={"source": "kafka", "topics": [...], ...})

which joins, splits by time, trains, evaluates and writes a new version into ``repository`` (a
``ModelBuild``). Writing a version does not serve it: promotion is the rollout's business.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from engine.config.pipeline import PipelineSettings
from engine.errors import ConfigError, StackUnavailableError
from engine.ingest.kafka_clients import quiet_client
from engine.pipeline.contract import PipelinePlugin
from engine.topics.registry import SchemaRegistry, Validator, compile_schema_file
from engine.topics.specs import TopicCatalog

log = logging.getLogger("streaminfer.lifecycle.retrain")

_CONSUME_BATCH = 5000


@dataclass(frozen=True, slots=True)
class RecentRecords:
    """What :func:`read_recent` read.

    Attributes:
        records: Decoded JSON objects, ordered by record timestamp (each partition keeps its order).
        skipped: Records that were read but are not a JSON object (undecodable bytes, a tombstone, a
            JSON value that is not an object): counted, never returned.
        complete: Every partition was read up to the high watermark seen at the start before the timeout.
    """

    records: list[dict[str, Any]]
    skipped: int
    complete: bool


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """What :func:`retrain` did.

    Attributes:
        build: What ``plugin.retrain`` returned (a ``ModelBuild``: name, version, path, metrics, ...).
        inputs: Schema-valid input records handed to the plugin.
        labels: Schema-valid label records handed to the plugin.
        joined: Labels whose key field matches an input's (the examples the plugin could learn from).
        skipped_inputs: Input records dropped: undecodable or failing the input schema.
        skipped_labels: Label records dropped: undecodable or failing the labels topic's schema.
        topics: (input topic, labels topic) read.
        complete: Both topics were read to their end (as of the start) within the timeout.
    """

    build: Any
    inputs: int
    labels: int
    joined: int
    skipped_inputs: int
    skipped_labels: int
    topics: tuple[str, str]
    complete: bool


def recent_start_offsets(watermarks: dict[int, tuple[int, int]], max_records: int) -> dict[int, int]:
    """Where to start each partition so that at most ``max_records`` of the newest records are read in all.

    The budget is shared equally, and what a short partition cannot use goes to the others (partitions
    are served shortest first), so a skewed topic still yields ``max_records`` when it holds that many.
    Offsets include transaction markers, so fewer records than offsets may come back: never more.

    Args:
        watermarks: partition → (low, high) watermark offsets.
        max_records: Records wanted, all partitions together.

    Returns:
        partition → first offset to read (``high`` for a partition that gives nothing).
    """
    budget = max(0, int(max_records))
    order = sorted(watermarks, key=lambda p: (watermarks[p][1] - watermarks[p][0], p))
    starts: dict[int, int] = {}
    for done, partition in enumerate(order):
        low, high = watermarks[partition]
        share = -(-budget // (len(order) - done))  # ceiling: never more than what is left
        take = min(max(0, high - low), share)
        budget -= take
        starts[partition] = high - take
    return starts


def read_recent(bootstrap: str, topic: str, max_records: int, timeout_s: float,
                config: dict[str, Any] | None = None) -> RecentRecords:
    """The newest ≤ ``max_records`` records of a topic, all partitions combined, decoded with orjson.

    Each partition is sought to its share of the newest offsets (:func:`recent_start_offsets`) and read
    up to the high watermark seen at the start, so records arriving meanwhile do not push the count over.
    The consumer reads ``read_committed`` (aborted transactions never train a model), assigns partitions
    itself under a throwaway group id and commits nothing.

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: Topic to read.
        max_records: Most records to return.
        timeout_s: Bound on the whole read (metadata, watermarks, fetching); what arrived is returned.
        config: Extra librdkafka properties (security: ``PipelineSettings.kafka.client_security()``).

    Returns:
        The records, the skipped count, and whether the read finished before the timeout.

    Raises:
        ConfigError: The topic does not exist.
        StackUnavailableError: The broker did not answer for metadata or watermarks in time.
    """
    deadline = time.monotonic() + timeout_s
    remaining = lambda: max(0.01, deadline - time.monotonic())  # noqa: E731 — a clock, read often
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"streaminfer-retrain-{uuid.uuid4().hex[:12]}",
        "enable.auto.commit": False, "enable.auto.offset.store": False, "isolation.level": "read_committed",
        "enable.partition.eof": True, "auto.offset.reset": "earliest", **quiet_client(), **(config or {})})
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=remaining()).topics.get(topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise ConfigError(f"topic {topic!r} does not exist on {bootstrap} (nothing to retrain from)")
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=remaining(), cached=False)
                    for p in sorted(metadata.partitions)}
        except KafkaException as exc:
            raise StackUnavailableError(f"Kafka at {bootstrap} did not describe {topic!r}: {exc}") from None
        starts = recent_start_offsets(ends, max_records)
        pending = {p for p, (_, high) in ends.items() if starts[p] < high}
        if pending:
            consumer.assign([TopicPartition(topic, p, starts[p]) for p in sorted(pending)])
        stamped: list[tuple[int, dict[str, Any]]] = []
        skipped = 0
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(_CONSUME_BATCH, min(remaining(), 1.0)):
                partition, error = message.partition(), message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(partition)
                    else:
                        log.warning("%s: %s", topic, error)
                    continue
                high = ends[partition][1]
                if partition not in pending or message.offset() >= high:
                    pending.discard(partition)  # past the start's high watermark: newer than asked for
                    continue
                if message.offset() + 1 >= high:
                    pending.discard(partition)
                record = _decode(message.value())
                if record is None:
                    skipped += 1
                else:
                    stamped.append((message.timestamp()[1], record))
        if pending:
            log.warning("%s: read timed out after %.1f s with %d partitions unfinished", topic, timeout_s,
                        len(pending))
    finally:
        consumer.close()
    stamped.sort(key=lambda pair: pair[0])  # stable: each partition keeps its offset order
    return RecentRecords([record for _, record in stamped], skipped, not pending)


def _decode(value: bytes | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _schema_validator(schema: str) -> Validator | None:
    """A catalog topic's (or a ``.json`` file's) validator; None when the catalog has no such topic."""
    if schema.endswith(".json"):
        return compile_schema_file(schema)[0]
    registry = SchemaRegistry(TopicCatalog.load())
    return registry.validator(schema) if schema in registry.topics else None


def _valid(records: list[dict[str, Any]], validator: Validator | None) -> tuple[list[dict[str, Any]], int]:
    if validator is None:
        return records, 0
    kept = []
    for record in records:
        try:
            validator(record)
        except fastjsonschema.JsonSchemaException:
            continue
        kept.append(record)
    return kept, len(records) - len(kept)


def retrain(settings: PipelineSettings, plugin: PipelinePlugin, repository: Path, max_events: int,
            timeout_s: float, *, labels_topic: str | None = None, max_labels: int | None = None,
            min_examples: int = 1000) -> RetrainResult:
    """Train the pipeline's next model version from the newest inputs and labels on Kafka.

    Inputs come from ``settings.topics.input`` (validated by ``settings.topics.input_schema`` or the
    plugin's ``input_schema``), labels from ``plugin.labels.topic`` (validated by that catalog topic's
    schema). Labels lag their inputs, so only the part of the two windows that overlaps joins: read more
    than you need (``max_events``/``max_labels``) when the label delay is long.

    Args:
        settings: The pipeline (input topic, Kafka address and security).
        plugin: Its plugin; must have ``labels`` and a ``retrain(repository, events, labels, provenance=)``.
        repository: Triton model repository root the new version is written into.
        max_events: Most input records to read (the newest).
        timeout_s: Bound on reading both topics (training is not bounded by it).
        labels_topic: Read labels here instead of ``plugin.labels.topic`` (same schema).
        max_labels: Most label records to read; None means ``max_events`` (a plugin with several labels
            per input, such as one per shown item, wants more).
        min_examples: Fewest joined labels worth training on.

    Returns:
        The plugin's build and the counts.

    Raises:
        ConfigError: The plugin has no labels or no ``retrain``, or fewer than ``min_examples`` labels
            join the inputs.
    """
    join = plugin.labels
    if join is None:
        raise ConfigError(f"pipeline {settings.name!r} (plugin {plugin.name!r}) has no labels topic: "
                          "there is nothing to retrain from")
    if not callable(getattr(plugin, "retrain", None)):
        raise ConfigError(f"plugin {plugin.name!r} has no retrain(repository, events, labels) method")
    input_topic, label_topic = settings.topics.input, labels_topic or join.topic
    bootstrap, security = settings.kafka.bootstrap_servers, settings.kafka.client_security()
    deadline = time.monotonic() + timeout_s
    raw_inputs = read_recent(bootstrap, input_topic, max_events, timeout_s, security)
    raw_labels = read_recent(bootstrap, label_topic, max_events if max_labels is None else max_labels,
                             max(0.5, deadline - time.monotonic()), security)
    inputs, bad_inputs = _valid(raw_inputs.records, _schema_validator(settings.topics.input_schema
                                                                      or plugin.input_schema))
    labels, bad_labels = _valid(raw_labels.records, _schema_validator(join.topic))
    keys = {record.get(join.key_field) for record in inputs}
    joined = sum(1 for record in labels if record.get(join.key_field) in keys)
    log.info("retrain %s: %d inputs from %s, %d labels from %s, %d join by %s (skipped %d + %d)",
             settings.name, len(inputs), input_topic, len(labels), label_topic, joined, join.key_field,
             raw_inputs.skipped + bad_inputs, raw_labels.skipped + bad_labels)
    if joined < min_examples:
        raise ConfigError(
            f"retrain {settings.name!r}: only {joined} of {len(labels)} labels on {label_topic!r} join the "
            f"{len(inputs)} inputs on {input_topic!r} by {join.key_field!r}; at least {min_examples} are needed "
            f"(skipped {raw_inputs.skipped + bad_inputs} inputs and {raw_labels.skipped + bad_labels} labels "
            "that did not decode or match their schema)")
    skipped_inputs, skipped_labels = raw_inputs.skipped + bad_inputs, raw_labels.skipped + bad_labels
    provenance = {"source": "kafka", "topics": [input_topic, label_topic], "skipped_inputs": skipped_inputs,
                  "skipped_labels": skipped_labels}
    build = plugin.retrain(Path(repository), inputs, labels, provenance=provenance)
    return RetrainResult(build, len(inputs), len(labels), joined, skipped_inputs, skipped_labels,
                         (input_topic, label_topic), raw_inputs.complete and raw_labels.complete)
