"""The pipeline contract: everything that differs between use cases, behind one plugin object.

The engine owns consuming, decoding and validating against the input topic's JSON Schema, dead
letters, micro-batching, Triton calls, retries and the breaker, transactions, metrics and alerts. A
pipeline (fraud, recs, or one a user writes) is a YAML file in ``compose/pipelines/`` whose
``plugin: module:object`` names a :class:`PipelinePlugin`; the plugin says

* which JSON Schema validates the input (:attr:`PipelinePlugin.input_schema`: a catalog topic or a file),
* the entity key of an event (card, user: partitioning, and canary splits later),
* how a batch of decoded events becomes Triton's named input tensors (:meth:`PipelinePlugin.encode`,
  variable-length lists as flat values plus per-event offsets, the Merlin / HugeCTR convention),
* how Triton's named outputs become one output record value per event (:meth:`PipelinePlugin.records`),
* how labels or feedback join the outputs (:attr:`PipelinePlugin.labels`) and what the learner makes of
  them (:attr:`PipelinePlugin.learning`),
* its generator and its model builder (``generate``, ``models build``).

Nothing here may name a use case: the engine imports plugins only through :func:`load_plugin`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
from pydantic import BaseModel, ValidationError

from engine.codec.reasons import DlqReason
from engine.errors import ConfigError


class EventRejected(Exception):
    """Raised by :meth:`PipelinePlugin.encode` for an event that passed the schema but cannot be served
    (too many candidates, a value the model cannot take); the engine dead-letters exactly that event
    with ``reason`` and this message, and serves the rest of the batch.

    Any other exception from ``encode`` is treated the same way with reason
    ``feature_extraction_failed``: the event, not the engine, is at fault.
    """

    def __init__(self, message: str, reason: DlqReason = DlqReason.FEATURE_EXTRACTION_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """One Triton request for a batch of events.

    Attributes:
        tensors: Triton input name → array; every array's first dimension is ``rows``.
        rows: Rows of the request: one per event (fraud) or one per (event, item) pair (recs).
        layout: Whatever the plugin needs to map output rows back to events (for example per-event
            row offsets of length ``len(events) + 1``); the engine only carries it.
    """

    tensors: dict[str, np.ndarray]
    rows: int
    layout: Any = None


class Source(NamedTuple):
    """Where an event was read: stamped on its output record so consumers can trace and de-duplicate."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class OutputStamp:
    """What is the same for every output record of one published batch."""

    pipeline: str
    model_name: str
    model_version: str
    now_ms: int
    latency_ms: float


@dataclass(frozen=True, slots=True)
class LabelJoin:
    """How delayed ground truth joins the outputs.

    Attributes:
        topic: Where labels or feedback arrive (``fraud.labels``, ``recs.feedback``).
        key_field: Field that identifies the output a label is for (``event_id``, ``request_id``).
    """

    topic: str
    key_field: str


class PipelinePlugin:
    """Base class of a use case plugged into the engine; subclass it in ``models/<pipeline>/``.

    Class attributes a subclass sets:
        name: The use case (``fraud``); a YAML file may run it under another pipeline name.
        input_schema: Catalog topic whose JSON Schema validates input events, or the path of a ``.json``
            schema file the plugin ships beside its code.
        model_inputs: Triton input names :meth:`encode` fills, in the model's order.
        model_outputs: Triton output names :meth:`records` reads.
        input_columns: Column names per 2-D input, for dead-letter messages (optional).
        labels: How labels join the outputs (None: the pipeline has no learning side yet).
        Options: A pydantic model of the YAML ``plugin_options`` section (None: takes none).
    """

    name: ClassVar[str] = ""
    input_schema: ClassVar[str] = ""
    model_inputs: ClassVar[tuple[str, ...]] = ()
    model_outputs: ClassVar[tuple[str, ...]] = ()
    #: Column names of 2-D inputs, so a non-finite value is reported by name (optional).
    input_columns: ClassVar[dict[str, tuple[str, ...]]] = {}
    labels: ClassVar[LabelJoin | None] = None
    Options: ClassVar[type[BaseModel] | None] = None

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options

    @classmethod
    def configured(cls, raw_options: dict[str, Any] | None) -> "PipelinePlugin":
        """An instance with its ``plugin_options`` validated (ConfigError naming every bad field)."""
        raw_options = raw_options or {}
        if cls.Options is None:
            if raw_options:
                raise ConfigError(f"plugin {cls.name!r} takes no plugin_options, got {sorted(raw_options)}")
            return cls()
        try:
            return cls(cls.Options.model_validate(raw_options))
        except ValidationError as exc:
            problems = "; ".join(f"plugin_options.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"plugin {cls.name!r}: {problems}") from None

    # -- the hot path ----------------------------------------------------------------------
    def entity_key(self, event: dict[str, Any]) -> str:
        """The entity an event is about (card, user): the Kafka key of its records."""
        raise NotImplementedError

    def encode(self, events: list[dict[str, Any]]) -> ModelInputs:
        """Named input tensors for a batch of schema-valid events (vectorised; raise to reject, see
        :class:`EventRejected`). Called with one event at a time to find the culprit after a raise."""
        raise NotImplementedError

    def records(self, events: list[dict[str, Any]], outputs: dict[str, np.ndarray], layout: Any,
                sources: list[Source], stamp: OutputStamp) -> list[bytes]:
        """One output record value per event, in order, from Triton's outputs for the whole batch
        (each output's first dimension is the request's ``rows``, values finite)."""
        raise NotImplementedError

    def max_rows_per_event(self) -> int | None:
        """Most Triton rows one event can become (fraud 1, recs its max_candidates); None: unbounded.

        With it the engine checks at start that a full micro-batch fits the model's max_batch_size."""
        return None

    # -- the learning side (streaminfer learn) ------------------------------------------------
    @property
    def learning(self) -> Any:
        """What the learner needs beyond :attr:`labels`: an ``engine.learn`` spec (``EventLearning`` for a
        score and a 0/1 label per event, ``RankingLearning`` for ranked lists and per-item feedback);
        None: the pipeline has no learner."""
        return None

    # -- tooling ---------------------------------------------------------------------------
    def summarize_output(self, record: dict[str, Any]) -> tuple[str, str]:
        """``(id, result)`` of a decoded output record, for the live view's sample rows."""
        return str(record.get("event_id", "?")), ""

    def synthetic_events(self, seed: int, drift: float = 0.0) -> Iterator[dict[str, Any]]:
        """An endless, seeded stream of valid input events for ``streaminfer generate``."""
        raise NotImplementedError(f"pipeline {self.name!r} has no generator")

    def build_model(self, repository: Path, force: bool = False) -> Any:
        """Train (or reuse a cached artifact) and export a new version into a Triton repository;
        returns an object with ``name``, ``version``, ``path``, ``metrics`` and ``from_cache``."""
        raise NotImplementedError(f"pipeline {self.name!r} has no model builder")

    def describe_metrics(self, metrics: dict[str, Any]) -> list[str]:
        """Lines summarising a build's offline metrics for ``models build``."""
        return []
