"""The recs pipeline's plugin: ranking requests in, the top-k candidates of each out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field

from engine.codec.reasons import DlqReason
from engine.learn.ranking.spec import RankingLearning
from engine.pipeline.contract import EventRejected, LabelJoin, ModelInputs, OutputStamp, PipelinePlugin, Source
from models.recs.constants import DEFAULT_K, MAX_CANDIDATES
from models.recs.features import request_tensors
from models.recs.learning import recs_learning
from models.recs.topk import top_k_per_request

RANKED_SCHEMA_VERSION = 1


class RecsOptions(BaseModel):
    """``plugin_options`` of the recs pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_candidates: int = Field(500, ge=1, le=MAX_CANDIDATES,
                                description="Most distinct candidates per request; more is dead-lettered "
                                            "(limit_exceeded), never truncated silently.")


class RecsPipeline(PipelinePlugin):
    """``recs.requests`` → one row per distinct (request, candidate) → ``score`` → top-k → ``recs.ranked``.

    Decisions at the input boundary (beyond the schema, which rejects empty candidate lists, non-string
    ids, a missing user and k that is not an integer in 1..1000):

    * duplicated candidates are de-duplicated keeping the first occurrence — a feed that repeats an item
      still gets a valid ranking, and ``items`` never lists an item twice;
    * more distinct candidates than ``max_candidates`` → dead letter ``limit_exceeded`` (the caller must
      split the request; cutting it would rank items the caller did not mean to drop);
    * unknown (cold) users and items are ranked through their hash buckets and the learned item bias,
      never dead-lettered.
    """

    name = "recs"
    input_schema = "recs.requests"
    model_inputs = ("user_bucket", "item_bucket", "context")
    model_outputs = ("score",)
    labels = LabelJoin("recs.feedback", "request_id")
    Options = RecsOptions

    def __init__(self, options: RecsOptions | None = None) -> None:
        super().__init__(options or RecsOptions())

    @property
    def learning(self) -> RankingLearning:
        """Ranked lists ⋈ per-item feedback; context features for drift and the challengers."""
        return recs_learning()

    def entity_key(self, event: dict[str, Any]) -> str:
        """Requests are keyed (and partitioned) by user."""
        return event["user_id"]

    def encode(self, events: list[dict[str, Any]]) -> ModelInputs:
        """Flattened (request, distinct candidate) rows; the layout keeps offsets, item ids and k."""
        try:
            tensors, offsets, item_ids = request_tensors(events, self.options.max_candidates)
        except ValueError as exc:
            if "max_candidates" in str(exc):
                raise EventRejected(str(exc), DlqReason.LIMIT_EXCEEDED) from None
            raise
        ks = np.fromiter((event.get("k", DEFAULT_K) for event in events), np.int64, len(events))
        return ModelInputs(tensors, int(offsets[-1]), (offsets, item_ids, ks))

    def max_rows_per_event(self) -> int:
        """A request becomes one row per distinct candidate, at most ``max_candidates``."""
        return self.options.max_candidates

    def records(self, events: list[dict[str, Any]], outputs: dict[str, np.ndarray], layout: Any,
                sources: list[Source], stamp: OutputStamp) -> list[bytes]:
        """One ``recs.ranked`` record per request: its top ``min(k, distinct candidates)`` items."""
        offsets, item_ids, ks = layout
        scores = outputs["score"].reshape(-1)
        rows, kept = top_k_per_request(scores, offsets, ks)
        ids, values = item_ids[rows].tolist(), scores[rows].tolist()
        model = {"name": stamp.model_name, "version": stamp.model_version}
        dumps, out, at = orjson.dumps, [], 0
        for event, count, (topic, partition, offset) in zip(events, kept.tolist(), sources):
            items = [{"item_id": ids[at + j], "score": values[at + j], "rank": j + 1} for j in range(count)]
            at += count
            out.append(dumps({"schema_version": RANKED_SCHEMA_VERSION, "request_id": event["request_id"],
                              "user_id": event["user_id"], "items": items, "model": model,
                              "source": {"topic": topic, "partition": partition, "offset": offset},
                              "request_time": event["request_time"], "ranked_time": stamp.now_ms,
                              "latency_ms": stamp.latency_ms, "pipeline": stamp.pipeline}))
        return out

    def summarize_output(self, record: dict[str, Any]) -> tuple[str, str]:
        """The request id and its top three items with their scores."""
        top = ", ".join(f"{i['item_id']} {i['score']:.2f}" for i in record["items"][:3])
        more = len(record["items"]) - 3
        return record["request_id"], top + (f" (+{more})" if more > 0 else "")

    def synthetic_events(self, seed: int, drift: float = 0.0) -> Iterator[dict[str, Any]]:
        """Requests of the synthetic world (users, long-tail items, cold starts), in time order."""
        from models.recs.generator import RecsStream

        stream = RecsStream(seed=seed, drift=drift)
        while True:
            yield from stream.requests(1000)

    def build_model(self, repository: Path, force: bool = False):
        """Train (cached by code and seed) and export a new ``recs`` version."""
        from models.recs.export import build_recs_model

        return build_recs_model(repository, force=force)

    def retrain(self, repository: Path, events: list[dict[str, Any]], labels: list[dict[str, Any]], *,
                provenance: dict[str, Any] | None = None) -> Any:
        """Train version N+1 from requests joined with the feedback on their shown items (read back from
        Kafka, see :mod:`engine.lifecycle.retrain`); a ``ModelBuild``. Trains from scratch, see
        :mod:`models.recs.retrain`."""
        from models.recs.retrain import retrain_recs_model

        return retrain_recs_model(repository, events, labels, provenance=provenance)

    def describe_metrics(self, metrics: dict[str, Any]) -> list[str]:
        """NDCG@10 and HR@10 of the model next to the popularity baseline."""
        lines = []
        for split, label in (("test", "held-out requests"), ("popularity", "popularity baseline, same requests"),
                             ("cold_users", "same requests, every user unseen"),
                             ("drift_1", "the stream after drift 1"),
                             ("drift_1_popularity", "popularity after drift 1")):
            values = metrics.get(split) or {}
            if "ndcg_at_10" in values:
                lines.append(f"offline {label}: NDCG@10 {values['ndcg_at_10']:.4f}, HR@10 {values['hr_at_10']:.4f}")
        return lines

    def drift_eval_traces(self, quick: bool, seeds: int | None, workers: int, cache: Any = None,
                          say: Any = print) -> Any:
        """``streaminfer drift-eval --pipeline recs``: drifting recs streams through the trained champion and
        the click model, as CTR and log-loss traces on an impression clock (models.recs.drift_eval)."""
        from models.recs.drift_eval import drift_eval_traces

        return drift_eval_traces(quick=quick, seeds=seeds, workers=workers, cache=cache, say=say)

    def demo_traffic(self, bootstrap: str, topics: tuple[str, str, str], count: int, rate: float, run_id: str,
                     drift_to: float | None = None, drift_at: float = 0.5) -> Any:
        """``streaminfer demo``'s users: a :class:`~models.recs.feedback_sim.FeedbackSimulator` (``.run()``
        blocks; ``.report`` counts requests, rankings, impressions and clicks as they happen).

        The champion's own world (seed 7, what ``build_model`` trains on) from now on at ``rate``, so the
        requests are new ones and their times follow the wall clock; ids carry ``run_id``. Clicks land within 5 s (the stream's
        30-s window, scaled) so a one-minute run judges most of its lists.

        Args:
            bootstrap: Kafka bootstrap servers.
            topics: (requests, ranked, feedback) topics.
            count: Requests; ``rate``: requests/s; ``drift_to`` from ``drift_at`` of the run on.
        """
        import time

        from models.recs.feedback_sim import FeedbackOptions, FeedbackSimulator

        requests, ranked, feedback = topics
        return FeedbackSimulator(bootstrap, FeedbackOptions(
            count=count, seed=7, rate=rate, drift_to=drift_to, drift_at=drift_at, click_window_s=5.0, wait_s=10.0,
            deadline_s=count / max(rate, 1e-9) + 60.0, start_ms=int(time.time() * 1000),
            stream_rate=rate, request_id_prefix=f"demo-{run_id}-", requests_topic=requests, ranked_topic=ranked,
            feedback_topic=feedback))

