"""EventDecoder: one concrete malformed input per DlqReason, the check order, and the limits."""

from __future__ import annotations

import random

import orjson
import pytest

from engine.codec import DlqReason, EventDecoder
from engine.errors import ConfigError
from engine.topics import SchemaRegistry, TopicCatalog
from models.fraud.sample_events import encode_events, make_transaction, make_transactions

TOPIC = "fraud.transactions"


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry(TopicCatalog.load())


@pytest.fixture(scope="module", params=["fast_path", "validator_only"])
def decoder(request, registry) -> EventDecoder:
    fast_path = registry.fast_path(TOPIC) if request.param == "fast_path" else None
    return EventDecoder(registry.validator(TOPIC), fast_path=fast_path)


def valid_event(**changes) -> dict:
    event = make_transaction(random.Random(7), 7)
    event.update(changes)
    return event


def without(field: str) -> dict:
    event = valid_event()
    del event[field]
    return event


def decode_one(decoder: EventDecoder, value: bytes | None):
    batch = decoder.decode_batch([value])
    assert len(batch.good_index) + len(batch.rejects) == 1
    return batch.rejects[0] if batch.rejects else None


def test_valid_events_come_back_in_order(decoder):
    events = make_transactions(50, seed=3)
    batch = decoder.decode_batch(encode_events(events))
    assert batch.rejects == []
    assert batch.good_index == list(range(50))
    assert batch.events == events


@pytest.mark.parametrize(
    ("value", "reason", "message_part"),
    [
        (None, DlqReason.EMPTY_VALUE, "null"),
        (b"", DlqReason.EMPTY_VALUE, "empty"),
        (b"\xff\xfe{}", DlqReason.INVALID_UTF8, "offset 0"),
        (b'{"a": "caf\xe9"}', DlqReason.INVALID_UTF8, "offset 10"),
        (b'"\xed\xa0\x80"', DlqReason.INVALID_UTF8, "offset 1"),  # UTF-8-encoded surrogate
        (b"{not json", DlqReason.NOT_JSON, "not valid JSON"),
        (b'{"a": 1} trailing', DlqReason.NOT_JSON, "not valid JSON"),
        (b'{"a": "NaN" x}', DlqReason.NOT_JSON, "not valid JSON"),  # NaN in a string is text
        (b"nan", DlqReason.NON_FINITE_NUMBER, "nan"),
        (b'{"amount": NaN}', DlqReason.NON_FINITE_NUMBER, "NaN at char 11"),
        (b'{"amount": -Infinity}', DlqReason.NON_FINITE_NUMBER, "-Infinity"),
        (b'{"amount": Infinity}', DlqReason.NON_FINITE_NUMBER, "Infinity"),
        (b'{"amount": 1e400}', DlqReason.NON_FINITE_NUMBER, "1e400"),
        (b"-1e400", DlqReason.NON_FINITE_NUMBER, "overflows"),
        (b"[" * 100_000, DlqReason.NESTING_TOO_DEEP, "parser limit"),
        (b"[1,2]", DlqReason.NOT_AN_OBJECT, "array"),
        (b'"str"', DlqReason.NOT_AN_OBJECT, "string"),
        (b"42", DlqReason.NOT_AN_OBJECT, "integer"),
        (b"null", DlqReason.NOT_AN_OBJECT, "null"),
        (b"[" * 1000 + b"]" * 1000, DlqReason.NOT_AN_OBJECT, "array"),  # parses: depth 1000
    ],
)
def test_malformed_bytes_get_their_reason(decoder, value, reason, message_part):
    rejection = decode_one(decoder, value)
    assert rejection is not None
    assert rejection.reason is reason
    assert message_part in rejection.message


@pytest.mark.parametrize(
    ("event", "reason", "message_part"),
    [
        (without("schema_version"), DlqReason.SCHEMA_VIOLATION, "schema_version is required"),
        (valid_event(schema_version=2), DlqReason.UNKNOWN_SCHEMA_VERSION, "2 is not supported"),
        (valid_event(schema_version="1"), DlqReason.SCHEMA_VIOLATION, "got string"),
        (valid_event(schema_version=True), DlqReason.SCHEMA_VIOLATION, "got boolean"),
        (valid_event(schema_version=[1]), DlqReason.SCHEMA_VIOLATION, "got array"),
        (valid_event(amount="12"), DlqReason.SCHEMA_VIOLATION, "event.amount must be number"),
        (valid_event(amount=True), DlqReason.SCHEMA_VIOLATION, "event.amount must be number"),
        (valid_event(local_hour=True), DlqReason.SCHEMA_VIOLATION, "local_hour must be integer"),
        (valid_event(local_hour=3.5), DlqReason.SCHEMA_VIOLATION, "local_hour must be integer"),
        (valid_event(local_hour=24), DlqReason.SCHEMA_VIOLATION, "smaller than or equal to 23"),
        (valid_event(amount=-0.01), DlqReason.SCHEMA_VIOLATION, "bigger than or equal to 0"),
        (valid_event(ip_risk_score=1.5), DlqReason.SCHEMA_VIOLATION, "ip_risk_score"),
        (valid_event(currency="eur"), DlqReason.SCHEMA_VIOLATION, "currency must match"),
        (valid_event(currency="EUR\n"), DlqReason.SCHEMA_VIOLATION, "currency must match"),
        (valid_event(channel="fax"), DlqReason.SCHEMA_VIOLATION, "channel must be one of"),
        (valid_event(event_id=""), DlqReason.SCHEMA_VIOLATION, "event_id must be longer"),
        (valid_event(is_weekend=1), DlqReason.SCHEMA_VIOLATION, "is_weekend must be boolean"),
        (valid_event(card_present=None), DlqReason.SCHEMA_VIOLATION, "card_present"),
        (without("amount"), DlqReason.SCHEMA_VIOLATION, "must contain ['amount']"),
        (valid_event(extra=1), DlqReason.SCHEMA_VIOLATION, "must not contain {'extra'}"),
        (valid_event(amount={"value": 1}), DlqReason.SCHEMA_VIOLATION, "amount must be number"),
    ],
)
def test_schema_problems_get_their_reason(decoder, event, reason, message_part):
    rejection = decode_one(decoder, orjson.dumps(event))
    assert rejection is not None
    assert rejection.reason is reason
    assert message_part in rejection.message


def test_violation_message_shows_the_offending_value(decoder):
    rejection = decode_one(decoder, orjson.dumps(valid_event(amount="12")))
    assert rejection.message == "event.amount must be number (got str: '12')"


@pytest.mark.parametrize(
    ("raw_number", "reason"),
    [
        (b"10000000000000000000000000000", DlqReason.SCHEMA_VIOLATION),  # orjson: float 1e28
        (b"18446744073709551615", DlqReason.SCHEMA_VIOLATION),  # u64 max: int, above maximum
        (b"1e400", DlqReason.NON_FINITE_NUMBER),
        (b"1e-400", None),  # underflows to 0.0: a valid amount
    ],
)
def test_huge_numbers_never_pass_as_valid_amounts(decoder, raw_number, reason):
    value = orjson.dumps(valid_event(amount=0)).replace(b'"amount":0', b'"amount":' + raw_number)
    rejection = decode_one(decoder, value)
    assert (rejection.reason if rejection else None) is reason


def test_integral_float_is_an_integer_as_json_schema_says(decoder):
    # JSON Schema (draft-06+) defines "integer" as a number with no fractional part, and
    # fastjsonschema follows it: 1.0 is accepted, 1.5 and true are not.
    assert decode_one(decoder, orjson.dumps(valid_event(local_hour=3.0))) is None
    assert decode_one(decoder, orjson.dumps(valid_event(schema_version=1.0))) is None


def test_size_is_checked_before_parsing(registry):
    decoder = EventDecoder(registry.validator(TOPIC), max_bytes=64)
    batch = decoder.decode_batch([b"\xff" * 65, b"\xff" * 64])
    assert [r.reason for r in batch.rejects] == [DlqReason.TOO_LARGE, DlqReason.INVALID_UTF8]
    assert batch.rejects[0].message == "value is 65 bytes, limit is 64"


def test_default_size_limit_is_one_mebibyte(decoder):
    padding = b" " * (1_048_576 - 2)
    assert decode_one(decoder, b"[" + padding + b"]").reason is DlqReason.NOT_AN_OBJECT
    assert decode_one(decoder, b"[" + padding + b" ]").reason is DlqReason.TOO_LARGE


def test_deep_nesting_inside_an_object_is_caught_without_recursion(registry):
    decoder = EventDecoder(registry.validator(TOPIC), max_depth=32)
    deep = b'{"schema_version": 1, "a": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert decode_one(decoder, deep).reason is DlqReason.NESTING_TOO_DEEP
    at_limit = b'{"schema_version": 1, "a": ' + b"[" * 31 + b"]" * 31 + b"}"
    assert decode_one(decoder, at_limit).reason is DlqReason.SCHEMA_VIOLATION  # 32 levels: ok


def test_brackets_inside_strings_do_not_count_as_nesting(registry):
    decoder = EventDecoder(registry.validator(TOPIC), max_depth=2)
    event = valid_event(merchant_id="[[[{{{" * 10)
    assert decode_one(decoder, orjson.dumps(event)) is None


def test_supported_versions_gate_before_the_schema(registry):
    decoder = EventDecoder(registry.validator(TOPIC), supported_versions=(1, 2))
    # Version 2 is supported by the decoder, so the v1 schema's const decides.
    rejection = decode_one(decoder, orjson.dumps(valid_event(schema_version=2)))
    assert rejection.reason is DlqReason.SCHEMA_VIOLATION
    rejection = decode_one(decoder, orjson.dumps(valid_event(schema_version=3)))
    assert rejection.message == "schema_version 3 is not supported (supported: 1, 2)"


def test_mixed_batch_keeps_positions(decoder):
    good = encode_events(make_transactions(3, seed=11))
    values = [good[0], None, b"[]", good[1], b"\xff", good[2]]
    batch = decoder.decode_batch(values)
    assert batch.good_index == [0, 3, 5]
    assert [r.index for r in batch.rejects] == [1, 2, 4]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_bytes": 0},
        {"max_depth": 0},
        {"max_depth": 1025},
        {"supported_versions": ()},
        {"supported_versions": ("1",)},
        {"supported_versions": (True,)},
    ],
)
def test_bad_limits_are_config_errors(registry, kwargs):
    with pytest.raises(ConfigError):
        EventDecoder(registry.validator(TOPIC), **kwargs)


def test_reason_codes_are_stable():
    assert [reason.value for reason in DlqReason] == [
        "empty_value",
        "too_large",
        "invalid_utf8",
        "not_json",
        "non_finite_number",
        "nesting_too_deep",
        "not_an_object",
        "unknown_schema_version",
        "schema_violation",
        "feature_extraction_failed",
        "limit_exceeded",
    ]
    assert str(DlqReason.TOO_LARGE) == "too_large"
