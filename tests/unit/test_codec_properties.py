"""Properties of EventDecoder over arbitrary input: nothing lost, nothing raised.

Every index of a batch ends up in exactly one of good/rejected, valid events are always good,
and the fast path never changes a verdict (it may only vouch for events the schema accepts).
"""

from __future__ import annotations

import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.codec import DlqReason, EventDecoder
from engine.topics import SchemaRegistry, TopicCatalog
from models.fraud.sample_events import make_transaction

TOPIC = "fraud.transactions"
_REGISTRY = SchemaRegistry(TopicCatalog.load())
_VALIDATOR = _REGISTRY.validator(TOPIC)
_FAST = EventDecoder(_VALIDATOR, fast_path=_REGISTRY.fast_path(TOPIC), max_bytes=4096)
_SLOW = EventDecoder(_VALIDATOR, max_bytes=4096)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=8,
)
valid_events = st.integers(min_value=0, max_value=10**9).map(
    lambda seed: make_transaction(random.Random(seed), seed)
)
field_names = st.sampled_from(sorted(make_transaction(random.Random(0), 0)))


@st.composite
def mutated_events(draw) -> bytes:
    """A valid event with one field deleted, retyped or added, or one byte changed."""
    event = draw(valid_events)
    kind = draw(st.sampled_from(["delete", "replace", "add", "byte"]))
    if kind == "delete":
        del event[draw(field_names)]
    elif kind == "replace":
        event[draw(field_names)] = draw(json_values)
    elif kind == "add":
        event[draw(st.text(max_size=10))] = draw(json_values)
    encoded = orjson.dumps(event)
    if kind == "byte":
        position = draw(st.integers(min_value=0, max_value=len(encoded) - 1))
        encoded = encoded[:position] + bytes([draw(st.integers(0, 255))]) + encoded[position + 1 :]
    return encoded


raw_values = st.one_of(
    st.none(),
    st.just(b""),
    st.binary(max_size=64),
    st.text(max_size=40).map(str.encode),  # valid UTF-8, rarely JSON
    json_values.map(orjson.dumps),
    st.integers().map(lambda number: str(number).encode()),  # beyond 64 bits too
    st.sampled_from([b"NaN", b"-Infinity", b"1e400", b"[" * 2000, b'{"a":' * 40 + b"1"]),
    mutated_events(),
    valid_events.map(orjson.dumps),
    st.integers(min_value=4097, max_value=4200).map(lambda size: b"{" * size),  # too large
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(st.tuples(raw_values, st.booleans()), max_size=8))
def test_every_index_is_good_xor_rejected(batch):
    values = [value for value, _ in batch]
    # Interleave known-valid events so "valid ones are good" is checked in every batch.
    valid_positions = set()
    for position, (_, insert_valid) in enumerate(batch):
        if insert_valid:
            values[position] = orjson.dumps(make_transaction(random.Random(position), position))
            valid_positions.add(position)

    result = _FAST.decode_batch(values)

    good = set(result.good_index)
    rejected = [rejection.index for rejection in result.rejects]
    assert len(good) == len(result.good_index) == len(result.events)
    assert len(set(rejected)) == len(rejected)
    assert good.isdisjoint(rejected)
    assert good | set(rejected) == set(range(len(values)))
    assert result.good_index == sorted(result.good_index)
    assert rejected == sorted(rejected)
    assert valid_positions <= good
    for event in result.events:
        _VALIDATOR(event)  # raises if a bad event slipped through
    for rejection in result.rejects:
        assert isinstance(rejection.reason, DlqReason)
        assert rejection.reason is not DlqReason.FEATURE_EXTRACTION_FAILED
        assert rejection.message

    # The fast path is an optimisation only: same verdicts, same reasons, same messages.
    reference = _SLOW.decode_batch(values)
    assert reference.good_index == result.good_index
    assert reference.rejects == result.rejects


@settings(max_examples=300, deadline=None)
@given(value=mutated_events())
def test_fast_path_only_vouches_for_schema_valid_events(value):
    fast_path = _REGISTRY.fast_path(TOPIC)
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return
    if isinstance(event, dict) and fast_path(event):
        _VALIDATOR(event)


@pytest.mark.parametrize(
    "value",
    [
        b"[" * 100_000,  # orjson stops at its 1024-level limit
        b'{"schema_version": 1, "a": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001,  # parses; ours
    ],
)
def test_pathological_nesting_is_rejected_not_raised(value):
    decoder = EventDecoder(_VALIDATOR, fast_path=_REGISTRY.fast_path(TOPIC))
    assert decoder.decode_batch([value]).rejects[0].reason is DlqReason.NESTING_TOO_DEEP
