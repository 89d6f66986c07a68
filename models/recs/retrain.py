"""Retrain the recs ranker from requests and per-item feedback as they came back from Kafka.

``recs.requests`` ⋈ ``recs.feedback`` by ``request_id`` → a :class:`~models.recs.click_log.ClickLog` of
what was *shown*: each request keeps only the candidates it has feedback for, in position order, labelled
by the logged click. Unshown candidates are left out — nobody saw them, so they are not negatives — and
there is no world truth: ``relevant`` is the click, which is position-biased (see ``TrainSettings.label``).
The newest 20 % of requests are held out.

The ranker trains from scratch. Warm-starting it is not simple: :func:`models.recs.train.fit` ends by
resetting every item bucket the training rows did not touch (``settle_unseen_items``), which would wipe
what the parent knew about every item missing from the recent window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import fastjsonschema
import numpy as np
import torch

from engine.errors import ConfigError
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models import retraining
from models.build_cache import ModelBuild
from models.recs.click_log import ClickLog
from models.recs.constants import (CONTEXT_NAMES, DEVICES, ITEM_SALT, N_ITEM_BUCKETS, N_USER_BUCKETS,
                                   SCHEMA_VERSION, SURFACES, USER_SALT)
from models.recs.export import INPUTS, MAX_BATCH_ROWS, MODEL_NAME, OUTPUT
from models.recs.popularity import PopularityRanker
from models.recs.ranker import RecsRanker
from models.recs.train import TrainSettings, evaluate, fit, tensors_of
from models.torchscript import to_torchscript_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShownLog:
    """The click log of what was shown, and what the join left out.

    Attributes:
        log: One row per shown (request, item) with feedback; requests ordered by ``request_time``.
        rejected_requests: Requests that break the recs.requests schema or repeat a request id.
        rejected_feedback: Feedback records that break the recs.feedback schema.
        unmatched_feedback: Valid feedback whose request was not among the requests, or whose item was
            not one of the request's candidates.
    """

    log: ClickLog
    rejected_requests: int
    rejected_feedback: int
    unmatched_feedback: int


def _validators() -> tuple[Any, Any]:
    registry = SchemaRegistry(TopicCatalog.load())
    return registry.validator("recs.requests"), registry.validator("recs.feedback")


def _is_valid(validate: Any, record: Any) -> bool:
    try:
        validate(record)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def shown_click_log(requests: list[Any], feedback: list[Any]) -> ShownLog:
    """Join requests with their per-item feedback into the click log :func:`models.recs.train.fit` takes.

    Feedback repeated for one (request, item) counts as clicked if any copy says so, at its best position.

    Args:
        requests: Decoded ``recs.requests`` records, any order.
        feedback: Decoded ``recs.feedback`` records, any order.

    Returns:
        The log of shown items and the counts of what was left out.
    """
    valid_request, valid_feedback = _validators()
    shown: dict[str, dict[str, list[Any]]] = {}
    rejected_feedback = 0
    for record in feedback:
        if not _is_valid(valid_feedback, record):
            rejected_feedback += 1
            continue
        entry = shown.setdefault(record["request_id"], {}).setdefault(record["item_id"], [record["position"], False])
        entry[0] = min(entry[0], record["position"])
        entry[1] = entry[1] or record["clicked"]
    kept: list[tuple[dict[str, Any], list[tuple[int, str, bool]]]] = []
    seen: set[str] = set()
    rejected_requests = matched = 0
    for request in requests:
        if not _is_valid(valid_request, request) or request["request_id"] in seen:
            rejected_requests += 1
            continue
        seen.add(request["request_id"])
        candidates = set(request["candidates"])
        items = sorted((position, item, clicked) for item, (position, clicked)
                       in shown.get(request["request_id"], {}).items() if item in candidates)
        matched += len(items)
        if items:
            # The shown items become the request's candidates: request_tensors then builds exactly these rows.
            kept.append(({**request, "candidates": [item for _, item, _ in items]}, items))
    kept.sort(key=lambda pair: pair[0]["request_time"])
    rows = [row for _, items in kept for row in items]
    counts = np.fromiter((len(items) for _, items in kept), np.int64, len(kept))
    clicked = np.fromiter((c for _, _, c in rows), bool, len(rows))
    log_ = ClickLog(
        requests=[request for request, _ in kept],
        offsets=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        item_ids=np.asarray([item for _, item, _ in rows], dtype=np.str_),
        position=np.fromiter((p for p, _, _ in rows), np.int64, len(rows)),
        # No world truth on the stream: the click is all there is (p_relevant only feeds the oracle).
        p_relevant=clicked.astype(np.float64), relevant=clicked, clicked=clicked,
        cold_user=np.zeros(len(kept), bool), cold_item=np.zeros(len(rows), bool))
    unmatched = sum(len(items) for items in shown.values()) - matched
    return ShownLog(log_, rejected_requests, rejected_feedback, unmatched)


def split_by_time(click_log: ClickLog, test_fraction: float = 0.2) -> tuple[ClickLog, ClickLog]:
    """(older requests, newest ``test_fraction`` of requests) of a time-ordered log.

    Raises:
        ConfigError: A part would be empty, or the older part has no click.
    """
    try:
        split = retraining.time_split(len(click_log), test_fraction)
    except ValueError as exc:
        raise ConfigError(f"recs retrain: {exc}") from None
    older = np.arange(len(click_log)) < split
    train, test = click_log.take(older), click_log.take(~older)
    if not train.clicked.any():
        raise ConfigError(f"recs retrain: the {len(train)} training requests have no click to learn from")
    return train, test


def retrain_recs_model(repository: Path, requests: list[Any], feedback: list[Any], *,
                       provenance: Mapping[str, Any] | None = None, parent: int | None = None,
                       epochs: int = 2, seed: int = 7, test_fraction: float = 0.2) -> ModelBuild:
    """Train ranker version N+1 on the logged clicks of shown items and export it into a Triton repository.

    Args:
        repository: Triton model repository root (``<repository>/recs/<N+1>`` is written).
        requests: Decoded ``recs.requests`` records.
        feedback: Decoded ``recs.feedback`` records (one per shown item).
        provenance: Where the records came from, recorded under ``trained_from``.
        parent: Version compared with on the held-out requests; None means the newest on disk.
        epochs: Passes over the training rows.
        seed: Seed of the initialisation and the shuffling.
        test_fraction: Share of the newest requests held out.

    Returns:
        The build; its metrics hold NDCG@10/HR@10 on the held-out requests' clicks for the new model
        (``test``), the popularity baseline learned from the same training clicks (``popularity``) and the
        parent (``parent_test``).

    Raises:
        ConfigError: Too few requests with feedback to split, or no click to learn from.
    """
    torch.set_num_threads(1)  # the box is shared; one thread keeps training predictable
    torch.manual_seed(seed)
    started = time.perf_counter()
    joined = shown_click_log(requests, feedback)
    train, test = split_by_time(joined.log, test_fraction)
    settings = replace(TrainSettings(), label="clicked", epochs=epochs)
    model = RecsRanker(dim=settings.dim)
    fit(model, tensors_of(train), train.clicked, settings, seed)
    popularity = PopularityRanker().fit(train.item_ids, train.clicked)
    held_out = evaluate(model, popularity, test)
    model_dir = Path(repository) / MODEL_NAME
    parent_version = retraining.parent_version(model_dir, parent)
    parent_model = retraining.load_parent(model_dir, parent_version)
    metrics: dict[str, Any] = {
        "label": "clicked", "n_train_requests": len(train), "n_train_rows": train.n_rows,
        "n_test_requests": len(test), "epochs": epochs, "seed": seed, "warm_start": False,
        "train_click_rate": round(float(train.clicked.mean()), 4),
        "test": held_out["model"], "popularity": held_out["popularity"],
    }
    if parent_model is not None:
        metrics["parent_test"] = evaluate(parent_model, popularity, test)["model"]
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    source = retraining.trained_from(
        provenance, inputs=len(requests), labels=len(feedback), examples=joined.log.n_rows,
        requests=len(joined.log), rejected_requests=joined.rejected_requests,
        rejected_feedback=joined.rejected_feedback, unmatched_feedback=joined.unmatched_feedback)
    metadata = {
        "name": MODEL_NAME, "schema_version": SCHEMA_VERSION, "inputs": [spec.to_json() for spec in INPUTS],
        "output": OUTPUT.to_json(), "context_names": list(CONTEXT_NAMES), "devices": list(DEVICES),
        "surfaces": list(SURFACES), "n_user_buckets": N_USER_BUCKETS, "n_item_buckets": N_ITEM_BUCKETS,
        "user_salt": USER_SALT, "item_salt": ITEM_SALT, "max_batch_size": MAX_BATCH_ROWS,
        "hashing": "fnv1a64 over code points + splitmix64, models.recs.hashing.bucket_ids",
        "metrics": metrics, "trained_from": source, "parent_version": parent_version, "warm_start": False,
        "epochs": epochs, "seed": seed,
    }
    build = retraining.write_retrained(model_dir, to_torchscript_bytes(model), metadata, inputs=list(INPUTS),
                                       outputs=[OUTPUT], max_batch_size=MAX_BATCH_ROWS)
    log.info("recs retrain: version %d from %d shown items of %d requests (parent %s), held-out NDCG@10 %s",
             build.version, joined.log.n_rows, len(joined.log), parent_version, metrics["test"].get("ndcg_at_10"))
    return build
