"""Dead-letter records: original record untouched, context headers complete and schema-valid."""

from __future__ import annotations

import fastjsonschema
import pytest

from engine.codec import (
    DeadLetterRecord,
    DlqReason,
    dead_letter_headers,
    parse_dead_letter_headers,
    validate_dead_letter_headers,
)
from engine.codec.dlq import MAX_MESSAGE_BYTES, MESSAGE_HEADER, REASON_HEADER
from engine.topics import SchemaRegistry, TopicCatalog

CONTEXT = dict(
    topic="fraud.transactions",
    partition=4,
    offset=1822730,
    worker="worker-fraud-0",
    pipeline="fraud",
    now_ms=1763777000091,
)


@pytest.fixture(scope="module")
def dlq_validator():
    return SchemaRegistry(TopicCatalog.load()).validator("fraud.dlq")


def build(original_headers=None, reason=DlqReason.SCHEMA_VIOLATION, message="bad", **context):
    return dead_letter_headers(
        original_headers,
        reason,
        message,
        **{**CONTEXT, **context},
    )


def test_context_headers_follow_the_original_ones():
    headers = build([("traceparent", b"00-abc-01"), ("empty", None)])
    assert headers == [
        ("traceparent", b"00-abc-01"),
        ("empty", None),
        ("streaminfer.dlq.reason", b"schema_violation"),
        ("streaminfer.dlq.message", b"bad"),
        ("streaminfer.dlq.topic", b"fraud.transactions"),
        ("streaminfer.dlq.partition", b"4"),
        ("streaminfer.dlq.offset", b"1822730"),
        ("streaminfer.dlq.worker", b"worker-fraud-0"),
        ("streaminfer.dlq.pipeline", b"fraud"),
        ("streaminfer.dlq.time", b"1763777000091"),
    ]


def test_headers_validate_against_the_dlq_schema(dlq_validator):
    for reason in DlqReason:
        parsed = validate_dead_letter_headers(build(reason=reason), dlq_validator)
        assert parsed[REASON_HEADER] == reason.value


def test_schema_rejects_incomplete_or_malformed_headers(dlq_validator):
    headers = [pair for pair in build() if pair[0] != "streaminfer.dlq.offset"]
    with pytest.raises(fastjsonschema.JsonSchemaValueException, match="offset"):
        validate_dead_letter_headers(headers, dlq_validator)
    bad_partition = [
        (name, b"-1" if name == "streaminfer.dlq.partition" else value) for name, value in build()
    ]
    with pytest.raises(fastjsonschema.JsonSchemaValueException, match="partition"):
        validate_dead_letter_headers(bad_partition, dlq_validator)


def test_a_replayed_dead_letter_carries_only_the_latest_context():
    first = build(reason=DlqReason.NOT_JSON, message="first")
    second = build(first, reason=DlqReason.TOO_LARGE, message="second")
    names = [name for name, _ in second]
    assert names.count(REASON_HEADER) == 1
    assert parse_dead_letter_headers(second)[REASON_HEADER] == "too_large"
    assert parse_dead_letter_headers(second)[MESSAGE_HEADER] == "second"


def test_dict_headers_and_text_values_are_accepted():
    headers = build({"source": "pos-gw", "raw": b"\x00\xff"})
    assert headers[:2] == [("source", b"pos-gw"), ("raw", b"\x00\xff")]


def test_long_message_is_cut_on_a_character_boundary(dlq_validator):
    message = "é" * 600 + "x"  # 1201 bytes of UTF-8
    value = dict(build(message=message))[MESSAGE_HEADER]
    assert len(value) <= MAX_MESSAGE_BYTES
    text = value.decode("utf-8")  # strict: a split character would raise
    assert text.endswith("…") and text.startswith("é" * 400)
    validate_dead_letter_headers(build(message=message), dlq_validator)


def test_odd_text_never_raises():
    headers = build(message="lone surrogate \ud800 here", worker="w\udcff")
    assert dict(headers)[MESSAGE_HEADER] == b"lone surrogate ? here"


def test_unknown_reason_is_a_programming_error():
    with pytest.raises(ValueError):
        build(reason="bad_vibes")


def test_record_keeps_key_and_value_byte_for_byte():
    record = DeadLetterRecord.for_rejected(
        key=b"card_1",
        value=b"\xff not json",
        original_headers=None,
        reason=DlqReason.INVALID_UTF8,
        message="byte 0xff at offset 0 is not valid UTF-8",
        **CONTEXT,
    )
    assert record.key == b"card_1"
    assert record.value == b"\xff not json"
    assert parse_dead_letter_headers(record.headers)[REASON_HEADER] == "invalid_utf8"


def test_tombstone_stays_a_tombstone():
    record = DeadLetterRecord.for_rejected(
        key=None,
        value=None,
        original_headers=None,
        reason=DlqReason.EMPTY_VALUE,
        message="value is null (tombstone)",
        **CONTEXT,
    )
    assert record.value is None and record.key is None


def test_parse_ignores_foreign_headers_and_tolerates_bad_bytes():
    parsed = parse_dead_letter_headers(
        [("other", b"x"), ("streaminfer.dlq.worker", b"\xff"), ("streaminfer.dlq.message", None)]
    )
    assert parsed == {"streaminfer.dlq.worker": "\ufffd", "streaminfer.dlq.message": ""}
    assert parse_dead_letter_headers(None) == {}
