"""The shipped pipelines as the integration tests see them: how to make valid input, how outputs are
identified, and how fast this box serves them (so a test sized for fraud keeps its timing for recs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.pipeline.contract import PipelinePlugin
from models.fraud.generator import FraudGenerator
from models.fraud.pipeline import FraudPipeline
from models.recs.generator import RecsStream
from models.recs.pipeline import RecsPipeline


@dataclass(frozen=True)
class UseCase:
    """One shipped pipeline.

    Attributes:
        name: Shipped pipeline (and Triton model) name.
        plugin: Its plugin (entity keys).
        id_field: Field naming the input an output answers (``event_id``, ``request_id``).
        make_events: ``(count, seed) -> events``: valid input, deterministic by seed.
        speed: Share of fraud's event rate a test may use (a recs request brings ~60 candidate rows).
        batching: Pipeline ``batching`` overrides for tests.
    """

    name: str
    plugin: PipelinePlugin
    id_field: str
    make_events: Callable[[int, int], list[dict[str, Any]]]
    speed: float = 1.0
    batching: dict[str, Any] | None = None

    def events(self, count: int, seed: int) -> list[dict[str, Any]]:
        """``count`` valid input events."""
        return self.make_events(count, seed)

    def key(self, event: dict[str, Any]) -> bytes:
        """The Kafka key of an event: its entity."""
        return self.plugin.entity_key(event).encode()

    def scaled(self, count: int, rate: float) -> tuple[int, float]:
        """A fraud-sized (count, rate) for this use case: the same duration, fewer events per second."""
        return max(1, int(count * self.speed)), rate * self.speed


def _fraud_events(count: int, seed: int) -> list[dict[str, Any]]:
    return FraudGenerator(seed=seed).batch(count)[0]


def _recs_events(count: int, seed: int) -> list[dict[str, Any]]:
    # Request ids carry the seed, so two runs of one test never share ids.
    return list(RecsStream(seed=seed).requests(count))


FRAUD = UseCase("fraud", FraudPipeline(), "event_id", _fraud_events)
RECS = UseCase("recs", RecsPipeline(), "request_id", _recs_events, speed=0.25,
               batching={"max_rows": 64, "max_delay_ms": 5})
USE_CASES = {case.name: case for case in (FRAUD, RECS)}
