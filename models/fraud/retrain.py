"""Retrain FraudNet from transactions and their delayed labels as they came back from Kafka.

``fraud.transactions`` ⋈ ``fraud.labels`` by ``event_id`` → time-ordered examples; the newest 20 % are
held out. Training warm-starts from the parent version's weights and normaliser (the newest version on
disk unless told otherwise) with the same :func:`models.fraud.train.fit` a fresh build uses, at a lower
learning rate; without a parent, or with one of another architecture, it trains from scratch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import ConfigError
from models import retraining
from models.build_cache import ModelBuild
from models.fraud.export import INPUT, MODEL_NAME, OUTPUT
from models.fraud.features import CATEGORICAL_COLUMNS, FEATURE_NAMES, FraudFeatures
from models.fraud.network import FraudNet
from models.fraud.schema import SCHEMA_VERSION, label_violations, transaction_violations
from models.fraud.train import evaluate, fit
from models.torchscript import to_torchscript_bytes

log = logging.getLogger(__name__)

#: Learning rates of :func:`fit`: fine-tuning the parent must not undo it in the first steps.
FRESH_LEARNING_RATE = 3e-3
WARM_LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class JoinedExamples:
    """Transactions with their label, oldest first, and what the join left out.

    Attributes:
        events: Valid ``fraud.transactions`` events that have a label, ordered by ``event_time``.
        labels: int8 [len(events)], 1 = fraud.
        skipped_events: Events that break the contract (missing fields, wrong types) or repeat an
            ``event_id`` already seen.
        skipped_labels: Label records that break the contract (or are not objects at all).
        unmatched_labels: Valid labels whose transaction was not among the events.
    """

    events: list[dict[str, Any]]
    labels: np.ndarray
    skipped_events: int
    skipped_labels: int
    unmatched_labels: int

    def __len__(self) -> int:
        return len(self.events)


def join_labels(events: list[Any], labels: list[Any]) -> JoinedExamples:
    """Join transactions with their labels by ``event_id``; never raises on a malformed record.

    A transaction labelled twice keeps the label known last (largest ``label_time``: a chargeback can
    overturn an earlier "legitimate"). A repeated transaction (a producer retry) counts once.

    Args:
        events: Decoded ``fraud.transactions`` records, any order.
        labels: Decoded ``fraud.labels`` records, any order.

    Returns:
        The joined examples in event-time order and the counts of what was left out.
    """
    latest: dict[str, dict[str, Any]] = {}
    skipped_labels = 0
    for record in labels:
        # The wire said nothing about types: check them before anything reads a field.
        if not isinstance(record, dict) or label_violations(record):
            skipped_labels += 1
            continue
        known = latest.get(record["event_id"])
        if known is None or record["label_time"] >= known["label_time"]:
            latest[record["event_id"]] = record
    joined: list[tuple[dict[str, Any], int]] = []
    seen: set[str] = set()
    skipped_events = 0
    for event in events:
        if not isinstance(event, dict) or transaction_violations(event) or event["event_id"] in seen:
            skipped_events += 1
            continue
        seen.add(event["event_id"])
        label = latest.get(event["event_id"])
        if label is not None:
            joined.append((event, label["label"]))
    joined.sort(key=lambda pair: pair[0]["event_time"])  # stable: ties keep their stream order
    unmatched = sum(1 for event_id in latest if event_id not in seen)
    return JoinedExamples([e for e, _ in joined], np.fromiter((y for _, y in joined), np.int8, len(joined)),
                          skipped_events, skipped_labels, unmatched)


def split_by_time(examples: JoinedExamples, test_fraction: float = 0.2) -> tuple[JoinedExamples, JoinedExamples]:
    """(older part, newest ``test_fraction``) of time-ordered examples, as a model meets them in
    production: trained on the past, judged on what came after.

    Raises:
        ConfigError: A part would be empty, or the older part has no fraud (or no legitimate) example.
    """
    try:
        split = retraining.time_split(len(examples), test_fraction)
    except ValueError as exc:
        raise ConfigError(f"fraud retrain: {exc}") from None
    train = JoinedExamples(examples.events[:split], examples.labels[:split], 0, 0, 0)
    test = JoinedExamples(examples.events[split:], examples.labels[split:], 0, 0, 0)
    positives = int(train.labels.sum())
    if positives == 0 or positives == len(train):
        raise ConfigError(f"fraud retrain: the {len(train)} training examples have {positives} frauds: "
                          "both classes are needed")
    return train, test


def _initial_model(parent: torch.jit.ScriptModule | None, train_features: np.ndarray) -> tuple[FraudNet, bool]:
    model = FraudNet(len(FEATURE_NAMES), CATEGORICAL_COLUMNS)
    if parent is not None:
        try:
            # The scripted parent keeps the eager module's parameter and buffer names.
            model.load_state_dict(parent.state_dict())
            # The parent's normaliser stays: its weights were learned on that scaling.
            return model, True
        except RuntimeError as exc:  # another feature set or layer sizes: start over
            log.warning("fraud retrain: parent weights do not fit (%s); training from scratch", exc)
            model = FraudNet(len(FEATURE_NAMES), CATEGORICAL_COLUMNS)
    model.fit_normalizer(train_features)
    return model, False


def _held_out(model: torch.nn.Module, features: np.ndarray, labels: np.ndarray) -> dict[str, Any] | None:
    if labels.min(initial=1) == labels.max(initial=0):  # one class only: no ROC AUC
        return None
    # Labels from the stream do not say which attack pattern a fraud was: no per-pattern breakdown.
    metrics = evaluate(model, features, labels, np.zeros(len(labels), np.int8))
    metrics.pop("roc_auc_by_pattern", None)
    return metrics


def retrain_fraud_model(repository: Path, events: list[Any], labels: list[Any], *,
                        provenance: Mapping[str, Any] | None = None, parent: int | None = None,
                        epochs: int = 2, seed: int = 7, test_fraction: float = 0.2) -> ModelBuild:
    """Train FraudNet version N+1 from joined records and export it into a Triton repository.

    Args:
        repository: Triton model repository root (``<repository>/fraud/<N+1>`` is written).
        events: Decoded ``fraud.transactions`` records.
        labels: Decoded ``fraud.labels`` records.
        provenance: Where the records came from, recorded under ``trained_from`` (``source``,
            ``topics``; the engine passes ``{"source": "kafka", ...}``).
        parent: Version to warm-start from and compare with; None means the newest on disk.
        epochs: Passes over the training part.
        seed: Seed of the shuffling (and of a fresh initialisation).
        test_fraction: Share of the newest examples held out.

    Returns:
        The build; its metrics hold ``test`` (the new model on the held-out part) and ``parent_test``
        (the parent on the same part, when there is a parent and both classes are present).

    Raises:
        ConfigError: Too few examples to split, or a split without both classes.
    """
    torch.set_num_threads(1)  # the box is shared; one thread keeps training predictable
    torch.manual_seed(seed)
    started = time.perf_counter()
    examples = join_labels(events, labels)
    train, test = split_by_time(examples, test_fraction)
    extractor = FraudFeatures()
    train_x, test_x = extractor.extract(train.events), extractor.extract(test.events)
    model_dir = Path(repository) / MODEL_NAME
    parent_version = retraining.parent_version(model_dir, parent)
    parent_model = retraining.load_parent(model_dir, parent_version)
    model, warm = _initial_model(parent_model, train_x)
    pos_weight = fit(model, train_x, train.labels, epochs, seed,
                     learning_rate=WARM_LEARNING_RATE if warm else FRESH_LEARNING_RATE)
    metrics: dict[str, Any] = {
        "n_train": len(train), "n_test": len(test), "epochs": epochs, "seed": seed, "warm_start": warm,
        "pos_weight": round(pos_weight, 3), "train_fraud_rate": round(float(train.labels.mean()), 4),
        "test": _held_out(model, test_x, test.labels),
    }
    if parent_model is not None:
        metrics["parent_test"] = _held_out(parent_model, test_x, test.labels)
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    source = retraining.trained_from(
        provenance, inputs=len(events), labels=len(labels), examples=len(examples),
        rejected_events=examples.skipped_events, rejected_labels=examples.skipped_labels,
        unmatched_labels=examples.unmatched_labels)
    metadata = {
        "name": MODEL_NAME, "schema_version": SCHEMA_VERSION, "feature_names": list(FEATURE_NAMES),
        "categorical_columns": {str(k): v for k, v in CATEGORICAL_COLUMNS.items()},
        "input": INPUT.to_json(), "output": OUTPUT.to_json(), "metrics": metrics,
        "trained_from": source, "parent_version": parent_version, "warm_start": warm,
        "epochs": epochs, "seed": seed,
    }
    build = retraining.write_retrained(model_dir, to_torchscript_bytes(model), metadata,
                                       inputs=[INPUT], outputs=[OUTPUT])
    log.info("fraud retrain: version %d from %d examples (parent %s, warm %s), held-out ROC AUC %s",
             build.version, len(examples), parent_version, warm, (metrics["test"] or {}).get("roc_auc"))
    return build
