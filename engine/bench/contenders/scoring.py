"""The per-event work a hand-written peer does: decode, validate, encode, write the output records.

Peers (``naive``, ``faust``) do the same work as the engine with the same libraries a careful user
would pick (orjson, the input's JSON Schema compiled by fastjsonschema, the pipeline plugin's own
``encode`` and ``records``) and write the same output records, so the comparison is about the
pipeline, not the payload.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import orjson
from fastjsonschema import JsonSchemaException

from engine.pipeline.contract import ModelInputs, OutputStamp, PipelinePlugin, Source
from engine.topics.registry import SchemaRegistry, Validator, compile_schema_file
from engine.topics.specs import TopicCatalog


def input_validator(input_schema: str) -> Validator:
    """The compiled validator of a catalog topic's schema, or of a plugin's own ``.json`` schema file."""
    if input_schema.endswith(".json"):
        return compile_schema_file(input_schema)[0]
    return SchemaRegistry(TopicCatalog.load()).validator(input_schema)


class PeerScorer:
    """Decode and validate input, encode it with the plugin, and build the plugin's output records.

    Args:
        plugin: The pipeline's plugin.
        input_schema: Catalog topic (or ``.json`` file) whose schema validates input.
        model_name: Stamped on every output record.
        pipeline: Stamped on every output record (the peer's name: ``naive``, ``faust``).
    """

    def __init__(self, plugin: PipelinePlugin, input_schema: str, model_name: str, pipeline: str) -> None:
        self._validate = input_validator(input_schema)
        self.plugin = plugin
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

    def encode(self, events: list[dict[str, Any]]) -> tuple[list[int], ModelInputs | None]:
        """Model inputs of ``events``, and the positions of the events they cover.

        Like the engine, a batch the plugin refuses is retried one event at a time so only the culprit
        is dropped (counted in ``rejected``); None when nothing is left.
        """
        try:
            return list(range(len(events))), self.plugin.encode(events)
        except Exception:  # noqa: BLE001 — any encode failure is the event's fault (EventRejected or not)
            if len(events) == 1:
                self.rejected += 1
                return [], None
        kept = []
        for position, event in enumerate(events):
            if self.encode([event])[1] is not None:
                kept.append(position)
        return (kept, self.plugin.encode([events[i] for i in kept])) if kept else ([], None)

    def records(self, events: list[dict[str, Any]], outputs: dict[str, np.ndarray], layout: Any,
                sources: list[Source], version: str, consumed_ms: float) -> list[bytes]:
        """The plugin's output record values (the engine's very records: ``fraud.scores``, ``recs.ranked``)."""
        now_ms = int(time.time() * 1000)
        stamp = OutputStamp(self.pipeline, self.model_name, version, now_ms, max(0.0, now_ms - consumed_ms))
        return self.plugin.records(events, outputs, layout, sources, stamp)
