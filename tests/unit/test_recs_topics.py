"""The recs topics' schemas on edge cases, and their examples telling one consistent story."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from fastjsonschema import JsonSchemaValueException

from engine.codec.decode import DEFAULT_MAX_BYTES
from engine.topics import DEFAULT_CATALOG_PATH, SchemaRegistry, TopicCatalog
from models.recs.constants import DEFAULT_K, DEVICES, MAX_CANDIDATES, SURFACES

EXAMPLES_DIR = DEFAULT_CATALOG_PATH.parent / "examples"
LONGEST_ID = "𝄞" * 128  # 128 characters of 4 bytes each: the longest id in UTF-8 bytes


@pytest.fixture(scope="module")
def catalog() -> TopicCatalog:
    return TopicCatalog.load()


@pytest.fixture(scope="module")
def registry(catalog) -> SchemaRegistry:
    return SchemaRegistry(catalog)


def request(**changes: Any) -> dict[str, Any]:
    """A minimal valid recs.requests value (no k), with ``changes`` applied."""
    value = {
        "schema_version": 1,
        "request_id": "req-1",
        "user_id": "u_1",
        "candidates": ["item_1", "item_2"],
        "context": {"device": "web", "surface": "home", "hour": 12},
        "request_time": 1763798400000,
    }
    value.update(changes)
    return value


def ranked(**changes: Any) -> dict[str, Any]:
    """A valid recs.ranked value, with ``changes`` applied."""
    value = {
        "schema_version": 1,
        "request_id": "req-1",
        "user_id": "u_1",
        "items": [{"item_id": "item_2", "score": 0.7, "rank": 1}],
        "model": {"name": "recs_ranker", "version": "2"},
        "source": {"topic": "recs.requests", "partition": 0, "offset": 5},
        "request_time": 1763798400000,
        "ranked_time": 1763798400012,
        "latency_ms": 3.5,
        "pipeline": "recs",
    }
    value.update(changes)
    return value


def feedback(**changes: Any) -> dict[str, Any]:
    """A valid recs.feedback value, with ``changes`` applied."""
    value = {
        "schema_version": 1,
        "request_id": "req-1",
        "user_id": "u_1",
        "item_id": "item_2",
        "position": 1,
        "clicked": False,
        "impression_time": 1763798400500,
        "feedback_time": 1763798430500,
    }
    value.update(changes)
    return value


def without(value: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: field for name, field in value.items() if name != key}


def examples(topic: str) -> list[dict[str, Any]]:
    return json.loads((EXAMPLES_DIR / f"{topic}.json").read_text(encoding="utf-8"))


# --- recs.requests ---------------------------------------------------------------------------


def test_minimal_request_without_k_is_accepted_unchanged(registry):
    value = request()
    # Unchanged: the schema has no "default" keyword, which fastjsonschema would write into the
    # event; the engine applies k's default itself.
    assert registry.validator("recs.requests")(value) == request()
    assert "k" not in value


@pytest.mark.parametrize(
    ("value", "failing_field"),
    [
        pytest.param(request(candidates=[]), "data.candidates", id="empty candidates"),
        pytest.param(request(candidates=["a"] * 1001), "data.candidates", id="1001 candidates"),
        pytest.param(request(candidates=["a", 7]), "data.candidates[1]", id="int candidate"),
        pytest.param(request(candidates=["a", ""]), "data.candidates[1]", id="empty candidate"),
        pytest.param(request(candidates="a,b"), "data.candidates", id="candidates as text"),
        pytest.param(request(request_id=42), "data.request_id", id="int request_id"),
        pytest.param(request(user_id=42), "data.user_id", id="int user_id"),
        pytest.param(request(user_id=None), "data.user_id", id="null user_id"),
        pytest.param(request(user_id="u" * 129), "data.user_id", id="user_id too long"),
        pytest.param(without(request(), "user_id"), "data", id="missing user_id"),
        pytest.param(without(request(), "context"), "data", id="missing context"),
        pytest.param(request(k=0), "data.k", id="k 0"),
        pytest.param(request(k=-1), "data.k", id="k -1"),
        pytest.param(request(k=2.5), "data.k", id="k 2.5"),
        pytest.param(request(k="3"), "data.k", id="k text"),
        pytest.param(request(k=True), "data.k", id="k true"),
        pytest.param(request(k=1001), "data.k", id="k 1001"),
        pytest.param(request(ranking="fast"), "data", id="extra top-level field"),
        pytest.param(
            request(context={"device": "watch", "surface": "home", "hour": 12}),
            "data.context.device",
            id="bad device",
        ),
        pytest.param(
            request(context={"device": "web", "surface": "cart", "hour": 12}),
            "data.context.surface",
            id="bad surface",
        ),
        pytest.param(
            request(context={"device": "web", "surface": "home", "hour": 24}),
            "data.context.hour",
            id="hour 24",
        ),
        pytest.param(
            request(context={"device": "web", "surface": "home"}), "data.context", id="no hour"
        ),
        pytest.param(
            request(context={"device": "web", "surface": "home", "hour": 1, "locale": "de"}),
            "data.context",
            id="extra context field",
        ),
        pytest.param(request(request_time=-1), "data.request_time", id="negative time"),
        pytest.param(request(schema_version=2), "data.schema_version", id="schema_version 2"),
    ],
)
def test_bad_requests_are_rejected_naming_the_field(registry, value, failing_field):
    with pytest.raises(JsonSchemaValueException) as caught:
        registry.validator("recs.requests")(value)
    assert caught.value.name == failing_field


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(request(k=1), id="k 1"),
        pytest.param(request(k=1000), id="k 1000"),
        pytest.param(request(k=50), id="k above the candidate count"),
        pytest.param(request(candidates=["a", "b", "a"]), id="duplicates: the engine dedups"),
        pytest.param(request(candidates=[f"item_{n}" for n in range(1000)]), id="1000 candidates"),
        pytest.param(request(candidates=[LONGEST_ID]), id="128-character id"),
        pytest.param(
            request(context={"device": "tv", "surface": "email", "hour": 0}), id="hour 0"
        ),
        pytest.param(
            request(context={"device": "ios", "surface": "item_page", "hour": 23}), id="hour 23"
        ),
    ],
)
def test_edge_requests_are_accepted(registry, value):
    registry.validator("recs.requests")(value)


def test_request_schema_matches_the_recs_model_contract(registry):
    properties = registry.schema("recs.requests")["properties"]
    context = properties["context"]["properties"]
    assert tuple(context["device"]["enum"]) == DEVICES  # one-hot order
    assert tuple(context["surface"]["enum"]) == SURFACES
    assert properties["candidates"]["maxItems"] == MAX_CANDIDATES
    assert properties["k"]["maximum"] == MAX_CANDIDATES
    assert f"{DEFAULT_K} when absent" in properties["k"]["description"]
    assert registry.schema("recs.ranked")["properties"]["items"]["maxItems"] == MAX_CANDIDATES


def test_nested_topics_have_no_fast_path(registry):
    assert registry.fast_path("recs.requests") is None  # arrays, a nested object, optional k
    assert registry.fast_path("recs.ranked") is None
    assert registry.fast_path("recs.feedback") is not None  # flat


def test_largest_valid_request_fits_the_decoder_limit(registry):
    largest = request(
        request_id=LONGEST_ID,
        user_id=LONGEST_ID,
        candidates=[LONGEST_ID] * 1000,
        k=1000,
        context={"device": "android", "surface": "item_page", "hour": 23},
        request_time=253402300799999,
    )
    registry.validator("recs.requests")(largest)
    assert len(orjson.dumps(largest)) < DEFAULT_MAX_BYTES


# --- recs.ranked -----------------------------------------------------------------------------


def largest_ranked() -> dict[str, Any]:
    return ranked(
        request_id=LONGEST_ID,
        user_id=LONGEST_ID,
        items=[
            {"item_id": LONGEST_ID, "score": -1.2345678901234567e-300, "rank": rank}
            for rank in range(1, 1001)
        ],
        model={"name": "m" * 128, "version": "v" * 64},
        source={"topic": "t" * 249, "partition": 2147483647, "offset": 2**63 - 1},
        latency_ms=9.876543210987654e14,
        pipeline="p" * 128,
    )


def test_largest_valid_ranking_fits_the_topic(catalog, registry):
    largest = largest_ranked()
    registry.validator("recs.ranked")(largest)
    limit = int(catalog.spec("recs.ranked").config["max.message.bytes"])
    assert len(orjson.dumps(largest)) + 64 * 1024 < limit  # room for key, headers, batch


def test_ranking_is_open_at_the_top_and_closed_inside(registry):
    validate = registry.validator("recs.ranked")
    validate(ranked(explanation="added later: consumers ignore it"))
    with pytest.raises(JsonSchemaValueException):
        validate(ranked(items=[{"item_id": "a", "score": 0.1, "rank": 1, "why": "x"}]))


@pytest.mark.parametrize(
    ("value", "failing_field"),
    [
        pytest.param(ranked(items=[]), "data.items", id="no items"),
        pytest.param(
            ranked(items=largest_ranked()["items"] + [{"item_id": "a", "score": 0.0, "rank": 1}]),
            "data.items",
            id="1001 items",
        ),
        pytest.param(
            ranked(items=[{"item_id": "a", "score": 0.1, "rank": 0}]),
            "data.items[0].rank",
            id="rank 0",
        ),
        pytest.param(
            ranked(items=[{"item_id": "a", "score": "0.1", "rank": 1}]),
            "data.items[0].score",
            id="score as text",
        ),
        pytest.param(
            ranked(items=[{"item_id": "a", "rank": 1}]), "data.items[0]", id="no score"
        ),
        pytest.param(without(ranked(), "user_id"), "data", id="missing user_id"),
        pytest.param(ranked(latency_ms=-0.5), "data.latency_ms", id="negative latency"),
        pytest.param(
            ranked(model={"name": "recs_ranker"}), "data.model", id="model without version"
        ),
    ],
)
def test_bad_rankings_are_rejected(registry, value, failing_field):
    with pytest.raises(JsonSchemaValueException) as caught:
        registry.validator("recs.ranked")(value)
    assert caught.value.name == failing_field


# --- recs.feedback ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "failing_field"),
    [
        pytest.param(feedback(position=0), "data.position", id="position 0"),
        pytest.param(feedback(clicked="true"), "data.clicked", id="clicked as text"),
        pytest.param(feedback(clicked=1), "data.clicked", id="clicked as 1"),
        pytest.param(feedback(item_id=""), "data.item_id", id="empty item_id"),
        pytest.param(without(feedback(), "impression_time"), "data", id="no impression_time"),
        pytest.param(feedback(dwell_ms=1200), "data", id="extra field"),
    ],
)
def test_bad_feedback_is_rejected(registry, value, failing_field):
    with pytest.raises(JsonSchemaValueException) as caught:
        registry.validator("recs.feedback")(value)
    assert caught.value.name == failing_field
    assert registry.fast_path("recs.feedback")(value) is False  # never more lenient


def test_feedback_fast_path_accepts_a_valid_event(registry):
    assert registry.fast_path("recs.feedback")(feedback()) is True


# --- the examples tell one story -------------------------------------------------------------


def test_request_examples_cover_the_documented_cases():
    requests = examples("recs.requests")
    assert any("k" in value for value in requests)
    assert any("k" not in value for value in requests)
    assert any(not value["user_id"].isascii() for value in requests)
    assert any(len(set(value["candidates"])) < len(value["candidates"]) for value in requests)
    assert any(value.get("k", DEFAULT_K) > len(set(value["candidates"])) for value in requests)


@pytest.mark.parametrize("ranking", examples("recs.ranked"), ids=lambda value: value["request_id"])
def test_each_ranking_example_is_the_top_k_of_its_request(ranking):
    requests = {value["request_id"]: value for value in examples("recs.requests")}
    asked = requests[ranking["request_id"]]
    distinct = list(dict.fromkeys(asked["candidates"]))  # first occurrence kept
    items = ranking["items"]
    assert ranking["user_id"] == asked["user_id"]
    assert ranking["request_time"] == asked["request_time"]
    assert len(items) == min(asked.get("k", DEFAULT_K), len(distinct))
    assert [item["rank"] for item in items] == list(range(1, len(items) + 1))
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    ids = [item["item_id"] for item in items]
    assert len(set(ids)) == len(ids) and set(ids) <= set(distinct)


def test_feedback_examples_are_about_ranked_items():
    shown = {
        (ranking["request_id"], ranking["user_id"], item["item_id"])
        for ranking in examples("recs.ranked")
        for item in ranking["items"]
    }
    for value in examples("recs.feedback"):
        assert (value["request_id"], value["user_id"], value["item_id"]) in shown
        assert value["feedback_time"] >= value["impression_time"]


def test_dead_letter_examples_come_from_recs_requests():
    for headers in examples("recs.dlq"):
        assert headers["streaminfer.dlq.topic"] == "recs.requests"
        assert headers["streaminfer.dlq.pipeline"] == "recs"
