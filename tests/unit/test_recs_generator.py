"""RecsStream: recs.requests and recs.feedback records exactly as specified, deterministic, drift-aware."""

from __future__ import annotations

import json
from itertools import islice

import fastjsonschema
import numpy as np
import pytest

from engine.paths import TOPICS_DIR
from models.recs.constants import DEVICES, SURFACES
from models.recs.features import request_tensors
from models.recs.generator import RecsStream

SIZES = {"n_users": 500, "n_items": 1000}
REQUEST_KEYS = {"schema_version", "request_id", "user_id", "candidates", "context", "request_time"}
FEEDBACK_KEYS = {"schema_version", "request_id", "user_id", "item_id", "position", "clicked", "impression_time",
                 "feedback_time"}


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return list(RecsStream(11, **SIZES).requests(3000))


def _validator(name: str):
    return fastjsonschema.compile(json.loads((TOPICS_DIR / "schemas" / f"{name}.v1.json").read_text()))


def test_request_fields_by_hand(events: list[dict]) -> None:
    for event in events:
        assert set(event) - {"k"} == REQUEST_KEYS
        assert event["schema_version"] == 1
        assert isinstance(event["request_id"], str) and isinstance(event["user_id"], str)
        assert event["user_id"].startswith("u")
        assert 1 <= len(event["candidates"]) <= 500
        assert all(isinstance(c, str) and c.startswith("i") for c in event["candidates"])
        if "k" in event:
            assert type(event["k"]) is int and 1 <= event["k"] <= 1000
        context = event["context"]
        assert set(context) == {"device", "surface", "hour"}
        assert context["device"] in DEVICES and context["surface"] in SURFACES
        assert type(context["hour"]) is int and 0 <= context["hour"] <= 23
        assert type(event["request_time"]) is int and event["request_time"] > 1_700_000_000_000
    assert len({e["request_id"] for e in events}) == len(events)
    times = [e["request_time"] for e in events]
    assert times == sorted(times)


def test_request_mix(events: list[dict]) -> None:
    n = len(events)
    assert 0.4 < sum("k" in e for e in events) / n < 0.6
    cold_users = sum(e["user_id"].startswith("u-new-") for e in events) / n
    assert 0.01 < cold_users < 0.06
    candidates = [c for e in events for c in e["candidates"]]
    assert 0.005 < sum(c.startswith("i-new-") for c in candidates) / len(candidates) < 0.05
    sizes = np.array([len(e["candidates"]) for e in events])
    assert 20 <= np.median(sizes) <= 100
    assert any(len(e["candidates"]) != len(set(e["candidates"])) for e in events), "some repeat a candidate"
    assert len({e["context"]["hour"] for e in events}) == 24, "users live in every time zone"


def test_events_validate_against_the_topic_schemas(events: list[dict]) -> None:
    validate_request, validate_feedback = _validator("recs.requests"), _validator("recs.feedback")
    stream = RecsStream(11, **SIZES)
    for event in events[:500]:
        validate_request(event)
    for event in events[:100]:
        for record in stream.feedback(event, event["candidates"][:10]):
            validate_feedback(record)


def test_same_seed_same_stream_however_sliced() -> None:
    whole = list(RecsStream(11, **SIZES).requests(2100))
    sliced_stream = RecsStream(11, **SIZES)
    sliced = [*sliced_stream.requests(5), *sliced_stream.requests(1500), *sliced_stream.requests(595)]
    assert whole == sliced
    assert list(RecsStream(12, **SIZES).requests(5)) != whole[:5]


def test_set_drift_is_immediate_and_deterministic() -> None:
    def run() -> list[dict]:
        stream = RecsStream(11, **SIZES)
        first = list(stream.requests(700))
        stream.set_drift(1.0)
        return first + list(stream.requests(700))

    plain = list(RecsStream(11, **SIZES).requests(1400))
    drifted = run()
    assert drifted == run()
    assert drifted[:700] == plain[:700] and drifted[700:] != plain[700:]
    assert [e["request_time"] for e in drifted] == [e["request_time"] for e in plain], "same clock"
    with pytest.raises(ValueError):
        RecsStream(11, drift=1.5)


def test_feedback_is_delayed_position_ordered_and_replayable() -> None:
    stream = RecsStream(11, **SIZES)
    events = list(islice(stream.requests(400), 400))
    clicks_by_position = np.zeros(20)
    for event in events:
        ranked = event["candidates"][:20]
        records = stream.feedback(event, ranked)
        assert records == stream.feedback(event, ranked), "seeded by the request: a replay gives the same"
        assert [r["position"] for r in records] == list(range(1, len(ranked) + 1))
        assert [r["item_id"] for r in records] == ranked
        for record in records:
            assert set(record) == FEEDBACK_KEYS and type(record["clicked"]) is bool
            assert record["request_id"] == event["request_id"] and record["user_id"] == event["user_id"]
            assert record["impression_time"] >= event["request_time"]
            delay = record["feedback_time"] - record["impression_time"]
            assert 200 <= delay <= 30_000 if record["clicked"] else delay == 30_000
            clicks_by_position[record["position"] - 1] += record["clicked"]
    assert clicks_by_position[:3].sum() > 2 * clicks_by_position[-3:].sum()
    assert stream.feedback(events[0], []) == []
    shown_at = events[0]["request_time"] + 999
    assert {r["impression_time"] for r in stream.feedback(events[0], ["i1"], impression_time_ms=shown_at)} == {
        shown_at}


def test_training_log_rows_line_up_with_request_tensors() -> None:
    log = RecsStream(11, **SIZES).training_log(1500)
    _, offsets, item_ids = request_tensors(log.requests, 500)
    np.testing.assert_array_equal(offsets, log.offsets)
    np.testing.assert_array_equal(item_ids, log.item_ids)
    n = log.n_rows
    for column in (log.position, log.p_relevant, log.relevant, log.clicked, log.cold_item):
        assert len(column) == n
    assert len(log.cold_user) == len(log) == 1500
    assert ((log.p_relevant > 0) & (log.p_relevant < 1)).all()
    assert 0.02 < log.relevant.mean() < 0.2
    part = log.take(np.arange(len(log)) % 2 == 1)
    assert part.requests == log.requests[1::2] and part.n_rows == sum(len(set(r["candidates"])) for r in part.requests)
    assert RecsStream(11, **SIZES).training_log(0).n_rows == 0
