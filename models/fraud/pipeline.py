"""The fraud pipeline's plugin: card transactions in, one fraud score per transaction out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.learn.spec import EventLearning
from engine.pipeline.contract import LabelJoin, ModelInputs, OutputStamp, PipelinePlugin, Source
from models.fraud.features import FEATURE_NAMES, FraudFeatures
from models.fraud.scores import ScoreEncoder

if TYPE_CHECKING:
    from models.build_cache import ModelBuild


#: How the learner's metrics label fraud's input and output streams (dashboards and tests rely on them).
FRAUD_STREAMS = ("transactions", "scores")


class FraudPipeline(PipelinePlugin):
    """``fraud.transactions`` → ``features`` float32 [N, F] → ``score`` [N, 1] → ``fraud.scores``."""

    name = "fraud"
    input_schema = "fraud.transactions"
    model_inputs = ("features",)
    model_outputs = ("score",)
    input_columns = {"features": FEATURE_NAMES}
    labels = LabelJoin("fraud.labels", "event_id")

    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.features = FraudFeatures()

    @property
    def learning(self) -> EventLearning:
        """The learner watches and learns from the model's own features."""
        return EventLearning(FEATURE_NAMES, self.features.extract, streams=FRAUD_STREAMS)

    def entity_key(self, event: dict[str, Any]) -> str:
        """Transactions are keyed (and partitioned) by card."""
        return event["card_id"]

    def encode(self, events: list[dict[str, Any]]) -> ModelInputs:
        """One feature row per transaction."""
        # Finiteness is checked once, by the engine, which names the columns from input_columns.
        return ModelInputs({"features": self.features.extract(events)}, len(events))

    def max_rows_per_event(self) -> int:
        """One feature row per transaction."""
        return 1

    def records(self, events: list[dict[str, Any]], outputs: dict[str, np.ndarray], layout: Any,
                sources: list[Source], stamp: OutputStamp) -> list[bytes]:
        """One ``fraud.scores`` record per transaction."""
        encode = ScoreEncoder(stamp.pipeline, stamp.model_name, stamp.model_version, stamp.now_ms,
                              stamp.latency_ms).encode
        scores = outputs["score"].reshape(-1).tolist()
        return [encode(event["event_id"], score, topic, partition, offset, event["event_time"])
                for event, score, (topic, partition, offset) in zip(events, scores, sources)]

    def summarize_output(self, record: dict[str, Any]) -> tuple[str, str]:
        """The event id and its score (red from 0.5, where the fraud service blocks)."""
        flag = "[red]" if record["score"] >= 0.5 else ""
        return record["event_id"], f"{flag}{record['score']:.4f}"

    def synthetic_events(self, seed: int, drift: float = 0.0) -> Iterator[dict[str, Any]]:
        """Card transactions (labels are produced by ``generate fraud``, which also delays them)."""
        from models.fraud.generator import FraudGenerator

        generator = FraudGenerator(seed=seed, drift=drift)
        while True:
            yield from generator.batch(1000)[0]

    def build_model(self, repository: Path, force: bool = False):
        """Train (cached by code and seed) and export a new ``fraud`` version."""
        from models.fraud.export import build_fraud_model

        return build_fraud_model(repository, force=force)

    def retrain(self, repository: Path, events: list[dict[str, Any]], labels: list[dict[str, Any]], *,
                provenance: dict[str, Any] | None = None) -> ModelBuild:
        """Train version N+1 from transactions joined with their labels (``streaminfer`` reads them back
        from Kafka, see :mod:`engine.lifecycle.retrain`), warm-started from the newest version."""
        from models.fraud.retrain import retrain_fraud_model

        return retrain_fraud_model(repository, events, labels, provenance=provenance)

    def describe_metrics(self, metrics: dict[str, Any]) -> list[str]:
        """ROC and PR AUC on the held-out split and on fresh drifted streams."""
        lines = []
        for split, label in (("test", "held-out split"), ("drift_0", "fresh stream, drift 0"),
                             ("drift_1", "fresh stream, drift 1")):
            values = metrics.get(split) or {}
            if "roc_auc" in values:
                lines.append(f"offline {label}: ROC AUC {values['roc_auc']:.4f}, "
                             f"PR AUC {values.get('pr_auc', float('nan')):.4f}")
        return lines
