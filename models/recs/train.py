"""Train the recs ranker on a synthetic click log and evaluate it offline against popularity."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from models.recs.click_log import ClickLog
from models.recs.constants import MAX_CANDIDATES
from models.recs.features import request_tensors
from models.recs.generator import RecsStream
from models.recs.metrics import ranking_report
from models.recs.popularity import PopularityRanker
from models.recs.ranker import RecsRanker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides the trained artifact besides the seed.

    Attributes:
        n_train_requests: Requests in the training log (the start of the stream).
        n_test_requests: Held-out requests right after it (same world, later in time).
        n_drift_requests: Requests after those at drift 1 (0 skips the drift evaluation).
        epochs: Passes over the training rows.
        batch_size: Rows per optimiser step.
        learning_rate: Peak learning rate of both optimisers.
        l2: L2 penalty on the embedding rows a batch uses.
        dim: Embedding width.
        cold_user_dropout: Share of training rows whose user embedding is zeroed, so the
            item bias and context alone must rank well: what a cold user gets at serving time.
        label: ``"relevant"`` (full information: what the user would click if they
            looked at every candidate) or ``"clicked"`` (the logged, position-biased clicks:
            ~8x fewer positives, and at these sizes not enough to beat popularity).
        n_users: Known users of the world.
        n_items: Regular catalogue size of the world.
    """

    n_train_requests: int = 30_000
    n_test_requests: int = 5_000
    n_drift_requests: int = 5_000
    epochs: int = 4
    batch_size: int = 4096
    learning_rate: float = 0.03
    l2: float = 1e-4
    dim: int = 16
    cold_user_dropout: float = 0.2
    label: Literal["clicked", "relevant"] = "relevant"
    n_users: int = 5000
    n_items: int = 8000


#: A configuration for tests: seconds, not a minute, still clearly better than popularity.
SMALL = TrainSettings(n_train_requests=8_000, n_test_requests=2_000, n_drift_requests=1_000,
                      n_users=1000, n_items=2000)


def tensors_of(click_log: ClickLog) -> dict[str, torch.Tensor]:
    """The ranker's inputs for a log, built by the serving path's own function."""
    inputs, offsets, item_ids = request_tensors(click_log.requests, MAX_CANDIDATES)
    if not (np.array_equal(offsets, click_log.offsets) and np.array_equal(item_ids, click_log.item_ids)):
        raise AssertionError("request_tensors rows disagree with the log's rows")
    return {name: torch.from_numpy(array) for name, array in inputs.items()}


def score(model: nn.Module, inputs: dict[str, torch.Tensor], batch_size: int = 65_536) -> np.ndarray:
    """Scores [R] of a model on prepared inputs, in eval mode."""
    model.eval()
    n = len(inputs["user_bucket"])
    with torch.inference_mode():
        parts = [model(inputs["user_bucket"][i:i + batch_size], inputs["item_bucket"][i:i + batch_size],
                       inputs["context"][i:i + batch_size]).numpy().ravel() for i in range(0, n, batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def fit(model: RecsRanker, inputs: dict[str, torch.Tensor], labels: np.ndarray, settings: TrainSettings,
        seed: int) -> None:
    """Train ``model`` in place with a logits loss.

    Embedding tables are sparse: SparseAdam updates only the rows a batch touched, which
    is what keeps a cold user's untouched bucket at zero (and training fast); the small
    dense layers get AdamW.
    """
    sparse = [model.user_embedding.weight, model.item_embedding.weight, model.item_bias.weight]
    dense = [p for p in model.parameters() if all(p is not s for s in sparse)]
    optimisers = [torch.optim.SparseAdam(sparse, lr=settings.learning_rate),
                  torch.optim.AdamW(dense, lr=settings.learning_rate, weight_decay=1e-4)]
    n = len(labels)
    steps = max(1, settings.epochs * -(-n // settings.batch_size))
    schedules = [torch.optim.lr_scheduler.OneCycleLR(o, max_lr=settings.learning_rate, total_steps=steps,
                                                     cycle_momentum=False) for o in optimisers]
    y_all = torch.from_numpy(labels.astype(np.float32)).unsqueeze(1)
    loss_fn = nn.BCEWithLogitsLoss()
    shuffle = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(settings.epochs):
        order = torch.randperm(n, generator=shuffle)
        total = 0.0
        for start in range(0, n, settings.batch_size):
            rows = order[start:start + settings.batch_size]
            users, items = inputs["user_bucket"][rows], inputs["item_bucket"][rows]
            known = (torch.rand(len(rows), 1, generator=shuffle) >= settings.cold_user_dropout).to(torch.float32)
            loss = loss_fn(model.logits(users, items, inputs["context"][rows], known), y_all[rows])
            penalty = (model.user_embedding(users).pow(2).sum() + model.item_embedding(items).pow(2).sum()
                       + model.item_bias(items).pow(2).sum()) / len(rows)
            for optimiser in optimisers:
                optimiser.zero_grad(set_to_none=True)
            (loss + settings.l2 * penalty).backward()
            for optimiser, schedule in zip(optimisers, schedules):
                optimiser.step()
                schedule.step()
            total += loss.item() * len(rows)
        log.info("epoch %d/%d loss %.4f", epoch + 1, settings.epochs, total / n)
    seen = torch.zeros(model.n_item_buckets, dtype=torch.bool)
    seen[inputs["item_bucket"].reshape(-1)] = True
    model.settle_unseen_items(seen)
    model.eval()


def evaluate(model: nn.Module, popularity: PopularityRanker, click_log: ClickLog) -> dict[str, dict[str, Any]]:
    """NDCG@10 and HR@10 on true relevance for the model, the popularity baseline and an oracle."""
    labels = click_log.relevant
    return {
        "model": ranking_report(score(model, tensors_of(click_log)), labels, click_log.offsets),
        "popularity": ranking_report(popularity.score(click_log.item_ids), labels, click_log.offsets),
        "oracle": ranking_report(click_log.p_relevant, labels, click_log.offsets),
    }


def anonymised(click_log: ClickLog) -> ClickLog:
    """The same requests and labels with every user id replaced by one never seen before.

    The model then knows nothing about the user - exactly a cold start - while the
    labels still say what this user liked; a far larger sample than the stream's
    few percent of genuinely new users.
    """
    requests = [{**r, "user_id": f"u-anonymous-{r['request_id']}"} for r in click_log.requests]
    return dataclasses.replace(click_log, requests=requests, cold_user=np.ones(len(requests), bool))


def train_recs_model(seed: int = 7, settings: TrainSettings = TrainSettings()) -> tuple[RecsRanker, dict[str, Any]]:
    """Train a RecsRanker on the start of a stream and measure it on what follows.

    Held out are the requests right after the training ones (same world, later: newer
    items have arrived), then more at drift 1. Labels for evaluation are the world's
    sampled relevance of every candidate, whatever the training label.

    Args:
        seed: Seed of the world, the stream and the initialisation.
        settings: Sizes and hyperparameters.

    Returns:
        The trained model (eval mode) and a JSON-serialisable metrics dict with
        ``test``/``popularity`` (model and baseline on held-out requests),
        ``cold_users``/``cold_users_popularity`` (held-out requests with anonymised users,
        see :func:`anonymised`), ``drift_1``/``drift_1_popularity``
        and ``oracle`` (ranking by true P(relevant), the ceiling).
    """
    torch.set_num_threads(1)  # the box is shared; one thread keeps training predictable
    torch.manual_seed(seed)
    started = time.perf_counter()
    stream = RecsStream(seed, n_users=settings.n_users, n_items=settings.n_items)
    train_log = stream.training_log(settings.n_train_requests)
    test_log = stream.training_log(settings.n_test_requests)
    train_inputs = tensors_of(train_log)
    labels = train_log.label(settings.label)
    generated = time.perf_counter()

    model = RecsRanker(dim=settings.dim)
    fit(model, train_inputs, labels, settings, seed)
    popularity = PopularityRanker().fit(train_log.item_ids, labels)
    trained = time.perf_counter()

    held_out = evaluate(model, popularity, test_log)
    cold = evaluate(model, popularity, anonymised(test_log))
    metrics: dict[str, Any] = {
        "seed": seed,
        "settings": asdict(settings),
        "n_train_rows": train_log.n_rows,
        "train_label_rate": round(float(labels.mean()), 4),
        "test": held_out["model"],
        "popularity": held_out["popularity"],
        "oracle": held_out["oracle"],
        "cold_users": cold["model"],
        "cold_users_popularity": cold["popularity"],
    }
    if settings.n_drift_requests:
        stream.set_drift(1.0)
        drifted = evaluate(model, popularity, stream.training_log(settings.n_drift_requests))
        metrics["drift_1"] = drifted["model"]
        metrics["drift_1_popularity"] = drifted["popularity"]
        metrics["drift_1_oracle"] = drifted["oracle"]
    finished = time.perf_counter()
    metrics["seconds"] = {"generate": round(generated - started, 2), "train": round(trained - generated, 2),
                          "evaluate": round(finished - trained, 2), "total": round(finished - started, 2)}
    return model, metrics


def main() -> None:
    """Command line: train once and print the metrics as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--small", action="store_true", help="the fast test configuration")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    _, metrics = train_recs_model(seed=args.seed, settings=SMALL if args.small else TrainSettings())
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
