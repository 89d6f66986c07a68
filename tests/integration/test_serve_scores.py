"""Scores through Kafka and Triton equal in-process TorchScript scores for the same events."""

from __future__ import annotations

import numpy as np
import orjson

from models.fraud.features import FraudFeatures
from models.torchscript import load_torchscript, score_in_process


def test_scores_match_in_process_torch(pipeline, fraud_model) -> None:
    p = pipeline("scores")
    events = p.produce_events(600, seed=11)
    worker = p.start_worker("0")
    scores = p.read(p.output, expected=len(events), timeout_s=120, quiet_s=1.0)
    assert p.stop(worker) == 0, p.logs()
    assert len(scores) == len(events), p.logs()

    by_id = {}
    for output in scores:
        record = orjson.loads(output.value)
        by_id[record["event_id"]] = record
        assert record["model"] == {"name": "fraud", "version": fraud_model.name}
        assert record["source"]["topic"] == p.input
        assert output.key == record_key(events, record["event_id"])
    expected = score_in_process(load_torchscript(fraud_model / "model.pt"), FraudFeatures().extract(events)).ravel()
    served = np.array([by_id[e["event_id"]]["score"] for e in events], dtype=np.float32)
    assert np.max(np.abs(served - expected)) <= 1e-5


def record_key(events: list[dict], event_id: str) -> bytes:
    """The input key (card id) of an event: scores keep it, so they stay co-partitioned with input."""
    for event in events:
        if event["event_id"] == event_id:
            return event["card_id"].encode()
    raise KeyError(event_id)


def test_recs_rankings_match_in_process_torch_top_k(pipeline, recs_model) -> None:
    """Every request answered once with its top min(k, distinct) items; the scores are the in-process
    TorchScript scores of the same (user, item, context) rows, in rank order."""
    from models.recs.export import score_in_process as recs_scores
    from models.recs.features import request_tensors

    p = pipeline("ranked", use_case="recs")
    requests = p.produce_events(300, seed=12)
    worker = p.start_worker("0")
    ranked = p.read(p.output, expected=len(requests), timeout_s=120, quiet_s=1.0)
    assert p.stop(worker) == 0, p.logs()
    assert len(ranked) == len(requests), p.logs()
    by_id = {orjson.loads(o.value)["request_id"]: (orjson.loads(o.value), o.key) for o in ranked}

    inputs, offsets, item_ids = request_tensors(requests, max_candidates=1000)
    expected = recs_scores(recs_model / "model.pt", inputs).ravel()
    for index, request in enumerate(requests):
        record, key = by_id[request["request_id"]]
        assert key == request["user_id"].encode() and record["source"]["topic"] == p.input
        assert record["model"] == {"name": "recs", "version": recs_model.name}
        rows = range(offsets[index], offsets[index + 1])
        reference = {item_ids[r]: float(expected[r]) for r in rows}
        items = record["items"]
        assert len(items) == min(request.get("k", 10), len(reference))
        assert [i["rank"] for i in items] == list(range(1, len(items) + 1))
        served = np.array([i["score"] for i in items])
        assert np.max(np.abs(served - [reference[i["item_id"]] for i in items])) <= 1e-5
        best = sorted(reference.values(), reverse=True)[: len(items)]
        assert np.max(np.abs(served - best)) <= 1e-5, "the served items are the top-k by score"
