"""request_tensors: de-duplication, offsets, the max_candidates limit, dtypes, shapes and context encoding."""

from __future__ import annotations

import numpy as np
import pytest

from models.recs.constants import CONTEXT_NAMES, ITEM_SALT, N_ITEM_BUCKETS, N_USER_BUCKETS, USER_SALT
from models.recs.features import context_matrix, request_tensors
from models.recs.hashing import bucket_ids


def _event(i: int, candidates: list[str], device: str = "ios", surface: str = "home", hour: int = 6) -> dict:
    return {"schema_version": 1, "request_id": f"r{i}", "user_id": f"u{i}", "candidates": candidates,
            "context": {"device": device, "surface": surface, "hour": hour}, "request_time": 0}


EVENTS = [
    _event(0, ["b", "a", "b", "c", "a"]),
    _event(1, ["x"], device="tv", surface="email", hour=0),
    _event(2, ["é", "東京", "é"], device="web", surface="search", hour=18),
]


def test_duplicates_are_dropped_keeping_the_first_occurrence() -> None:
    _, offsets, item_ids = request_tensors(EVENTS, max_candidates=3)
    assert offsets.dtype == np.int64 and offsets.tolist() == [0, 3, 4, 6]
    assert item_ids.tolist() == ["b", "a", "c", "x", "é", "東京"]


def test_tensors_have_the_model_dtypes_and_shapes() -> None:
    inputs, _, item_ids = request_tensors(EVENTS, max_candidates=10)
    assert list(inputs) == ["user_bucket", "item_bucket", "context"], "forward's positional order"
    assert inputs["user_bucket"].dtype == np.int64 and inputs["user_bucket"].shape == (6, 1)
    assert inputs["item_bucket"].dtype == np.int64 and inputs["item_bucket"].shape == (6, 1)
    assert inputs["context"].dtype == np.float32 and inputs["context"].shape == (6, len(CONTEXT_NAMES))
    users = bucket_ids(["u0", "u1", "u2"], N_USER_BUCKETS, salt=USER_SALT)
    assert inputs["user_bucket"].ravel().tolist() == np.repeat(users, [3, 1, 2]).tolist()
    np.testing.assert_array_equal(inputs["item_bucket"].ravel(), bucket_ids(item_ids, N_ITEM_BUCKETS, salt=ITEM_SALT))
    np.testing.assert_array_equal(inputs["context"][:3], np.repeat(inputs["context"][:1], 3, axis=0))


def test_context_encoding() -> None:
    matrix = context_matrix(EVENTS)
    column = {name: i for i, name in enumerate(CONTEXT_NAMES)}
    first, second, third = matrix
    assert first[column["device_ios"]] == 1 and first[column["surface_home"]] == 1
    assert second[column["device_tv"]] == 1 and second[column["surface_email"]] == 1
    assert third[column["device_web"]] == 1 and third[column["surface_search"]] == 1
    assert matrix[:, :8].sum(axis=1).tolist() == [2, 2, 2], "one device and one surface each"
    assert first[column["hour_sin"]] == pytest.approx(1.0) and first[column["hour_cos"]] == pytest.approx(0, abs=1e-6)
    assert second[column["hour_sin"]] == pytest.approx(0, abs=1e-6) and second[column["hour_cos"]] == 1
    unknown = context_matrix([_event(0, ["a"], device="fridge", surface="billboard")])
    assert unknown[0, :8].sum() == 0, "a value outside the vocabulary encodes as all zeros"


def test_more_distinct_candidates_than_allowed_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"'r0' has 3 distinct candidates, more than max_candidates=2"):
        request_tensors(EVENTS, max_candidates=2)
    request_tensors([_event(0, ["a"] * 50 + ["b"])], max_candidates=2)  # 51 listed, 2 distinct: fine


def test_empty_batch() -> None:
    inputs, offsets, item_ids = request_tensors([], max_candidates=5)
    assert offsets.tolist() == [0] and item_ids.shape == (0,)
    assert inputs["user_bucket"].shape == (0, 1) and inputs["context"].shape == (0, len(CONTEXT_NAMES))
    assert inputs["context"].dtype == np.float32
