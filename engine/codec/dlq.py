"""Dead-letter records, following Kafka Connect's DLQ convention.

The dead-letter value is the original value, byte for byte (``None`` stays ``None``), and the
original key and headers are kept, so a record can be replayed exactly as it arrived. Why and
where it failed travels in extra ``streaminfer.dlq.*`` headers (UTF-8 text, like Connect's
``__connect.errors.*``), documented by ``topics/schemas/fraud.dlq.v1.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from engine.codec.reasons import DlqReason

HEADER_PREFIX = "streaminfer.dlq."
REASON_HEADER = HEADER_PREFIX + "reason"
MESSAGE_HEADER = HEADER_PREFIX + "message"
TOPIC_HEADER = HEADER_PREFIX + "topic"
PARTITION_HEADER = HEADER_PREFIX + "partition"
OFFSET_HEADER = HEADER_PREFIX + "offset"
WORKER_HEADER = HEADER_PREFIX + "worker"
PIPELINE_HEADER = HEADER_PREFIX + "pipeline"
TIME_HEADER = HEADER_PREFIX + "time"

MAX_MESSAGE_BYTES = 1000
"""Longest ``streaminfer.dlq.message`` header, in bytes: a message quotes input, so bound it."""

_ELLIPSIS = "…".encode()

HeaderValue = Union[bytes, str, None]
Headers = Union[Iterable[tuple[str, HeaderValue]], Mapping[str, HeaderValue], None]
"""Headers as confluent-kafka hands them out (list of pairs, or None) or accepts them (dict)."""


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A record ready to be produced to the dead-letter topic.

    Attributes:
        key: The original key, unchanged.
        value: The original value, unchanged.
        headers: The original headers followed by the ``streaminfer.dlq.*`` context headers.
    """

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]

    @classmethod
    def for_rejected(
        cls,
        *,
        key: bytes | None,
        value: bytes | None,
        original_headers: Headers,
        reason: DlqReason | str,
        message: str,
        topic: str,
        partition: int,
        offset: int,
        worker: str,
        pipeline: str,
        now_ms: int,
    ) -> DeadLetterRecord:
        """Build the dead-letter record for one rejected input record.

        Args:
            key: Key of the input record.
            value: Value of the input record.
            original_headers: Headers of the input record.
            reason: Why it was rejected.
            message: Details, e.g. the field and rule that failed.
            topic: Topic the input record was read from.
            partition: Its partition.
            offset: Its offset.
            worker: Id of the worker that rejected it.
            pipeline: Name of the pipeline that rejected it.
            now_ms: Rejection time, milliseconds since the epoch.

        Returns:
            The record to produce.
        """
        headers = dead_letter_headers(
            original_headers, reason, message, topic, partition, offset, worker, pipeline, now_ms
        )
        return cls(key=key, value=value, headers=headers)


def dead_letter_headers(
    original_headers: Headers,
    reason: DlqReason | str,
    message: str,
    topic: str,
    partition: int,
    offset: int,
    worker: str,
    pipeline: str,
    now_ms: int,
) -> list[tuple[str, bytes | None]]:
    """Original headers plus the ``streaminfer.dlq.*`` context headers.

    ``streaminfer.dlq.*`` headers already on the record (a replayed dead letter that failed
    again) are dropped, so each context header appears once and describes the latest failure.

    Args:
        original_headers: Headers of the input record; ``str`` values are UTF-8 encoded.
        reason: Why it was rejected; must be a :class:`DlqReason` code.
        message: Details; cut to :data:`MAX_MESSAGE_BYTES` on a UTF-8 character boundary.
        topic: Topic the input record was read from.
        partition: Its partition.
        offset: Its offset.
        worker: Id of the worker that rejected it.
        pipeline: Name of the pipeline that rejected it.
        now_ms: Rejection time, milliseconds since the epoch.

    Returns:
        Header pairs for ``Producer.produce(headers=...)``.

    Raises:
        ValueError: If ``reason`` is not a known reason code.
    """
    code = DlqReason(reason).value
    headers: list[tuple[str, bytes | None]] = [
        (name, value.encode("utf-8") if isinstance(value, str) else value)
        for name, value in _header_pairs(original_headers)
        if not name.startswith(HEADER_PREFIX)
    ]
    headers += [
        (REASON_HEADER, code.encode()),
        (MESSAGE_HEADER, _truncate_utf8(message, MAX_MESSAGE_BYTES)),
        (TOPIC_HEADER, topic.encode("utf-8", "replace")),
        (PARTITION_HEADER, str(int(partition)).encode()),
        (OFFSET_HEADER, str(int(offset)).encode()),
        (WORKER_HEADER, worker.encode("utf-8", "replace")),
        (PIPELINE_HEADER, pipeline.encode("utf-8", "replace")),
        (TIME_HEADER, str(int(now_ms)).encode()),
    ]
    return headers


def parse_dead_letter_headers(headers: Headers) -> dict[str, str]:
    """The ``streaminfer.dlq.*`` headers of a record, decoded to text.

    Args:
        headers: Headers of a dead-letter record.

    Returns:
        Header name to UTF-8 text (undecodable bytes replaced); the last occurrence wins.
        Other headers are left out.
    """
    parsed: dict[str, str] = {}
    for name, value in _header_pairs(headers):
        if name.startswith(HEADER_PREFIX):
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            parsed[name] = "" if value is None else value
    return parsed


def validate_dead_letter_headers(
    headers: Headers, validator: Callable[[Any], Any]
) -> dict[str, str]:
    """Parse the context headers and check them against the ``fraud.dlq`` schema.

    Args:
        headers: Headers of a dead-letter record.
        validator: Compiled validator of the dead-letter topic's schema, e.g.
            ``SchemaRegistry.validator("fraud.dlq")``.

    Returns:
        The parsed context headers.

    Raises:
        fastjsonschema.JsonSchemaValueException: If a header is missing or malformed.
    """
    parsed = parse_dead_letter_headers(headers)
    validator(parsed)
    return parsed


def _header_pairs(headers: Headers) -> Iterable[tuple[str, HeaderValue]]:
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        return headers.items()
    return headers


def _truncate_utf8(text: str, limit: int) -> bytes:
    # "replace": a lone surrogate (possible when the message quotes odd input) must not raise.
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return encoded
    # Cut bytes, then drop a partial trailing character; the ellipsis marks the cut.
    head = encoded[: limit - len(_ELLIPSIS)].decode("utf-8", "ignore").encode("utf-8")
    return head + _ELLIPSIS
