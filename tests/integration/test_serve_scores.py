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
