"""Batch decoder: raw Kafka values in, validated event dicts and reasoned rejections out.

This is the engine's input boundary. Every value of a batch ends up either as a good event or
as a :class:`Rejection` carrying a :class:`DlqReason` -- never an exception, never dropped.

Checks run in this order, and the first failing one names the reason:

1. ``None`` or ``b""``                         -> ``empty_value``
2. longer than ``max_bytes``                  -> ``too_large``
3. ``orjson.loads`` fails                     -> ``invalid_utf8`` | ``non_finite_number`` |
                                                 ``nesting_too_deep`` | ``not_json``
4. not a JSON object                          -> ``not_an_object``
5. ``schema_version`` absent or not a number  -> ``schema_violation`` (a broken producer: a
   newer worker would not accept it either, so it is not a "version" problem); a number that
   is not in ``supported_versions``           -> ``unknown_schema_version`` (a newer producer:
   worth replaying once the worker supports it)
6. nested deeper than ``max_depth``           -> ``nesting_too_deep``
7. the compiled JSON Schema fails             -> ``schema_violation``

The happy path is one ``orjson.loads``, a few type/length checks and one call into the
optional fast path (:mod:`engine.codec.fast_path`), falling back to the compiled validator only
when the fast path does not vouch for the event; everything that builds messages lives in
:mod:`engine.codec.classify` and only runs for rejects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from fastjsonschema import JsonSchemaValueException

from engine.codec.classify import (
    ORJSON_MAX_DEPTH,
    classify_parse_error,
    describe_schema_violation,
    nesting_exceeds,
)
from engine.codec.fast_path import FastPath
from engine.codec.reasons import DlqReason
from engine.errors import ConfigError

SchemaValidator = Callable[[Any], Any]
"""A compiled validator (``fastjsonschema.compile``): returns on success, raises
``fastjsonschema.JsonSchemaValueException`` on failure."""

DEFAULT_MAX_BYTES = 1_048_576
DEFAULT_MAX_DEPTH = 32

_MISSING = object()


class Rejection(NamedTuple):
    """One value of a batch that must go to the dead-letter topic.

    Attributes:
        index: Position of the value in the batch given to :meth:`EventDecoder.decode_batch`.
        reason: The failure class.
        message: What exactly is wrong, e.g. ``"event.amount must be number (got str: '12')"``.
    """

    index: int
    reason: DlqReason
    message: str


@dataclass(slots=True)
class DecodedBatch:
    """Outcome of decoding one batch; every input index is in exactly one of the two lists.

    Attributes:
        good_index: Batch positions of the valid events, ascending.
        events: The valid events, parallel to ``good_index``.
        rejects: The invalid values, ascending by index.
    """

    good_index: list[int] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Rejection] = field(default_factory=list)


class EventDecoder:
    """Decodes and validates batches of JSON events against one compiled schema.

    Args:
        schema_validator: Compiled JSON Schema validator for the event. It must accept every
            version in ``supported_versions``.
        max_bytes: Longest accepted value, in bytes.
        max_depth: Deepest accepted object/array nesting (the top-level object is depth 1).
            At most 1024, orjson's own limit.
        supported_versions: ``schema_version`` values this worker understands.
        fast_path: Optional quick accept-check compiled from the same schema
            (:func:`engine.codec.fast_path.compile_fast_path`); events it does not vouch for
            are judged by ``schema_validator``, so results are the same with or without it.

    Raises:
        ConfigError: If a limit is out of range or no version is supported.
    """

    __slots__ = ("_validate", "_fast_path", "_max_bytes", "_max_depth", "_supported_versions")

    def __init__(
        self,
        schema_validator: SchemaValidator,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
        supported_versions: Iterable[int] = (1,),
        fast_path: FastPath | None = None,
    ) -> None:
        if max_bytes < 1:
            raise ConfigError(f"EventDecoder max_bytes must be >= 1, got {max_bytes}")
        if not 1 <= max_depth <= ORJSON_MAX_DEPTH:
            raise ConfigError(
                f"EventDecoder max_depth must be in 1..{ORJSON_MAX_DEPTH}, got {max_depth}"
            )
        # A tuple, not a set: membership then compares with ==, so an unhashable
        # schema_version (a list, an object) is simply "not supported" instead of a TypeError.
        requested = list(supported_versions)
        if not requested or any(type(version) is not int for version in requested):
            raise ConfigError(
                f"EventDecoder supported_versions must be non-empty ints, got {requested!r}"
            )
        versions = tuple(sorted(set(requested)))
        self._validate = schema_validator
        self._fast_path = fast_path or _never
        self._max_bytes = max_bytes
        self._max_depth = max_depth
        self._supported_versions = versions

    def decode_batch(self, values: Sequence[bytes | None]) -> DecodedBatch:
        """Decode and validate every value of a batch.

        Never raises for bad input: each value is either returned as an event or rejected.

        Args:
            values: Raw record values, e.g. ``[message.value() for message in messages]``.

        Returns:
            The good events with their batch positions, and the rejections.
        """
        # Locals instead of attribute lookups: this loop runs once per event.
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        validate = self._validate
        fast_path = self._fast_path
        max_bytes = self._max_bytes
        max_depth = self._max_depth
        supported = self._supported_versions
        batch = DecodedBatch()
        good_index, events, rejects = batch.good_index, batch.events, batch.rejects

        for index, raw in enumerate(values):
            if not raw:
                rejects.append(Rejection(index, DlqReason.EMPTY_VALUE, _empty_message(raw)))
                continue
            size = len(raw)
            if size > max_bytes:
                rejects.append(
                    Rejection(
                        index, DlqReason.TOO_LARGE, f"value is {size} bytes, limit is {max_bytes}"
                    )
                )
                continue
            try:
                event = loads(raw)
            except decode_error as error:
                reason, message = classify_parse_error(raw, error)
                rejects.append(Rejection(index, reason, message))
                continue
            if type(event) is not dict:
                rejects.append(
                    Rejection(
                        index,
                        DlqReason.NOT_AN_OBJECT,
                        f"expected a JSON object, got {_json_type_name(event)}",
                    )
                )
                continue
            version = event.get("schema_version", _MISSING)
            # bool is excluded explicitly because True == 1 would pass the membership test.
            if type(version) is bool or version not in supported:
                rejects.append(self._version_rejection(index, version))
                continue
            # A container needs one '{' or '[' per level, so counting brackets (in C) bounds the
            # depth from above; the exact walk only runs for the rare bracket-heavy value.
            if raw.count(b"{") + raw.count(b"[") > max_depth and nesting_exceeds(event, max_depth):
                rejects.append(
                    Rejection(
                        index, DlqReason.NESTING_TOO_DEEP, f"nesting exceeds {max_depth} levels"
                    )
                )
                continue
            if not fast_path(event):
                try:
                    validate(event)
                except JsonSchemaValueException as error:
                    rejects.append(
                        Rejection(
                            index, DlqReason.SCHEMA_VIOLATION, describe_schema_violation(error)
                        )
                    )
                    continue
            good_index.append(index)
            events.append(event)
        return batch

    def _version_rejection(self, index: int, version: Any) -> Rejection:
        if version is _MISSING:
            return Rejection(index, DlqReason.SCHEMA_VIOLATION, "schema_version is required")
        if type(version) not in (int, float):
            return Rejection(
                index,
                DlqReason.SCHEMA_VIOLATION,
                f"schema_version must be an integer, got {_json_type_name(version)}",
            )
        supported = ", ".join(str(known) for known in self._supported_versions)
        return Rejection(
            index,
            DlqReason.UNKNOWN_SCHEMA_VERSION,
            f"schema_version {version!r} is not supported (supported: {supported})",
        )


def _never(event: dict[str, Any]) -> bool:
    """Stand-in fast path that vouches for nothing, so every event meets the validator."""
    return False


def _empty_message(raw: bytes | None) -> str:
    return "value is null (tombstone)" if raw is None else "value is empty (0 bytes)"


_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _json_type_name(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
