"""compile_fast_path: which schemas get a fast path, and that it is never more lenient."""

from __future__ import annotations

import fastjsonschema
import pytest

from engine.codec.fast_path import compile_fast_path

FLAT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["n", "i", "s", "b", "e"],
    "properties": {
        "n": {"type": "number", "minimum": 0, "exclusiveMaximum": 10},
        "i": {"type": "integer", "const": 1},
        "s": {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^[A-Z]+$"},
        "b": {"type": "boolean"},
        "e": {"type": "integer", "enum": [0, 1]},
    },
}
GOOD = {"n": 9.5, "i": 1, "s": "AB", "b": False, "e": 0}


@pytest.fixture(scope="module")
def fast_path():
    check = compile_fast_path(FLAT)
    assert check is not None
    return check


def test_accepts_what_the_schema_accepts(fast_path):
    assert fast_path(GOOD)
    fastjsonschema.validate(FLAT, GOOD)


@pytest.mark.parametrize(
    "change",
    [
        {"n": 10},  # exclusive maximum
        {"n": -1},
        {"n": True},
        {"n": "1"},
        {"i": True},  # True == 1 in Python; not an integer in JSON
        {"i": 1.0},  # valid per JSON Schema, but the fast path leaves it to the validator
        {"e": False},
        {"s": "A"},
        {"s": "ABCD"},
        {"s": "AB\n"},  # "$" must not match before a trailing newline
        {"s": "ab"},
        {"b": 0},
        {"extra": 1},
    ],
)
def test_never_vouches_for_anything_doubtful(fast_path, change):
    assert not fast_path({**GOOD, **change})


def test_missing_field_is_not_vouched_for(fast_path):
    assert not fast_path({key: value for key, value in GOOD.items() if key != "b"})


@pytest.mark.parametrize(
    "schema_change",
    [
        {"additionalProperties": True},
        {"required": ["n"]},
        {"allOf": [{"type": "object"}]},
        {"type": ["object", "null"]},
        {"properties": {"n": {"type": ["number", "null"]}}},
        {"properties": {"n": {"type": "number", "multipleOf": 2}}},
        {"properties": {"n": {"type": "object"}}},
        {"properties": {"n": {"enum": [1, 2]}}},  # no type: equality alone mixes bool/int
        {"properties": {"n": {"type": "number", "format": "x"}}},
    ],
)
def test_schemas_outside_the_subset_get_no_fast_path(schema_change):
    schema = {**FLAT, **schema_change}
    if "properties" in schema_change:
        schema["required"] = list(schema["properties"])
    assert compile_fast_path(schema) is None
