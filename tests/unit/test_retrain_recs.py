"""The recs retrain: requests ⋈ per-item feedback → the click log of what was shown, and version N+1."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from engine.errors import ConfigError
from models import triton_repo
from models.recs.generator import RecsStream
from models.recs.pipeline import RecsPipeline
from models.recs.retrain import shown_click_log, split_by_time
from models.recs.train import tensors_of

SHOWN = 10


def traffic(n: int, seed: int = 3) -> tuple[list[dict], list[dict]]:
    """``n`` requests and the feedback on the first ``SHOWN`` candidates of each (what a ranker showed)."""
    stream = RecsStream(seed=seed, n_users=300, n_items=600)
    requests = list(stream.requests(n))
    feedback = [record for request in requests for record in stream.feedback(request, request["candidates"][:SHOWN])]
    return requests, feedback


def test_each_request_keeps_only_its_shown_items_in_position_order():
    requests, feedback = traffic(200)
    shuffled = feedback[:]
    random.Random(0).shuffle(shuffled)
    shown = shown_click_log(list(reversed(requests)), shuffled)
    log = shown.log
    assert len(log) == 200 and log.n_rows == len(feedback)
    assert (shown.rejected_requests, shown.rejected_feedback, shown.unmatched_feedback) == (0, 0, 0)
    times = [r["request_time"] for r in log.requests]
    assert times == sorted(times)
    by_request = {r["request_id"]: r for r in requests}
    clicks = {(f["request_id"], f["item_id"]): f["clicked"] for f in feedback}
    for i, request in enumerate(log.requests):
        rows = slice(log.offsets[i], log.offsets[i + 1])
        assert request["candidates"] == by_request[request["request_id"]]["candidates"][:SHOWN]
        assert log.item_ids[rows].tolist() == request["candidates"]
        assert log.position[rows].tolist() == list(range(1, SHOWN + 1))
        assert log.clicked[rows].tolist() == [clicks[(request["request_id"], item)] for item in request["candidates"]]
    assert log.clicked.any() and np.array_equal(log.relevant, log.clicked)
    tensors_of(log)  # the serving path's request_tensors builds exactly these rows


def test_malformed_records_are_skipped_and_counted():
    requests, feedback = traffic(50)
    bad_feedback = [{k: v for k, v in feedback[0].items() if k != "clicked"}, {**feedback[1], "clicked": 1},
                    {**feedback[2], "position": "3"}, None, [1, 2]]
    bad_requests = [{**requests[0], "candidates": "i1"}, {k: v for k, v in requests[1].items() if k != "context"},
                    dict(requests[2])]  # the last one repeats a request id
    stray = {**feedback[25], "item_id": "never-a-candidate"}  # request 2 never had it
    shown = shown_click_log(bad_requests + requests[2:], feedback[3:] + bad_feedback + [stray])
    assert shown.rejected_feedback == len(bad_feedback)
    assert shown.rejected_requests == 3
    assert len(shown.log) == 48
    assert shown.unmatched_feedback == 2 * SHOWN - 3 + 1  # requests 0 and 1 rejected (less the 3 broken) + stray


def test_split_holds_out_the_newest_requests():
    requests, feedback = traffic(500)
    train, test = split_by_time(shown_click_log(requests, feedback).log)
    assert (len(train), len(test)) == (400, 100)
    assert max(r["request_time"] for r in train.requests) <= min(r["request_time"] for r in test.requests)
    no_clicks = [{**f, "clicked": False} for f in feedback]
    with pytest.raises(ConfigError, match="no click"):
        split_by_time(shown_click_log(requests, no_clicks).log)


def test_retrain_writes_a_new_version_trained_from_the_clicks(tmp_path):
    requests, feedback = traffic(1500, seed=4)
    first = RecsPipeline().retrain(tmp_path, requests, feedback, provenance={"source": "kafka", "topics": ["a", "b"]})
    second = RecsPipeline().retrain(tmp_path, requests, feedback)
    assert (first.version, second.version) == (1, 2)
    metadata = json.loads((second.path / triton_repo.METADATA_FILENAME).read_text())
    assert metadata["parent_version"] == 1 and metadata["warm_start"] is False
    assert metadata["trained_from"]["examples"] == len(feedback)
    assert metadata["trained_from"]["requests"] == 1500
    for split in ("test", "popularity", "parent_test"):
        assert 0.0 <= metadata["metrics"][split]["ndcg_at_10"] <= 1.0
    assert json.loads((first.path / triton_repo.METADATA_FILENAME).read_text())["trained_from"]["source"] == "kafka"
