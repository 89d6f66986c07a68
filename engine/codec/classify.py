"""Slow-path diagnosis of rejected values: turns a parser or validator failure into a reason.

Nothing here runs for a valid event; these functions are only called once a record has already
failed, so they favour a precise, human-readable message over speed.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from engine.codec.reasons import DlqReason

# orjson refuses to nest deeper than this, whatever the caller asks for.
ORJSON_MAX_DEPTH = 1024

# Matched *at the parser's error position*, so a "NaN" inside a string can never match: orjson
# only stops there when it expected a value. The sign, if any, sits just before that position.
_NON_FINITE_LITERAL = re.compile(r"(?:nan|inf(?:inity)?)(?![0-9A-Za-z_])", re.IGNORECASE)

_MAX_VALUE_PREVIEW = 60


def classify_parse_error(raw: bytes, error: orjson.JSONDecodeError) -> tuple[DlqReason, str]:
    """Tell why orjson could not parse ``raw``.

    orjson raises one exception type for every failure, so the class is recovered from the
    bytes themselves (UTF-8 validity) and from the error's message and position.

    Args:
        raw: The value that failed to parse.
        error: The exception orjson raised for it.

    Returns:
        The reason code and a one-line message that says where and why.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return (
            DlqReason.INVALID_UTF8,
            f"byte 0x{raw[bad.start]:02x} at offset {bad.start} is not valid UTF-8 ({bad.reason})",
        )
    detail = error.msg
    position = error.pos  # a character index into the decoded text, not a byte offset
    if "depth limit" in detail:
        return (
            DlqReason.NESTING_TOO_DEEP,
            f"nesting exceeds the parser limit of {ORJSON_MAX_DEPTH} levels "
            f"(at char {position})",
        )
    if "is infinity" in detail:  # "number is infinity when parsed as double": 1e400 and co.
        number = _preview_number(text, position)
        return (
            DlqReason.NON_FINITE_NUMBER,
            f"number at char {position} overflows a 64-bit float: {number}",
        )
    literal = _NON_FINITE_LITERAL.match(text, position)
    if literal:
        sign = text[position - 1] if position and text[position - 1] in "+-" else ""
        return (
            DlqReason.NON_FINITE_NUMBER,
            f"{sign}{literal.group()} at char {position} is not a JSON number "
            "(NaN and Infinity are not allowed)",
        )
    return DlqReason.NOT_JSON, f"not valid JSON: {error}"


def _preview_number(text: str, position: int) -> str:
    end = position
    limit = min(len(text), position + _MAX_VALUE_PREVIEW)
    while end < limit and text[end] in "+-.0123456789eE":
        end += 1
    return text[position:end]


def nesting_exceeds(document: Any, max_depth: int) -> bool:
    """Whether ``document`` nests objects/arrays deeper than ``max_depth``.

    Iterative on purpose: a document orjson accepted can be 1024 levels deep, which a recursive
    walk would turn into a RecursionError. The top-level container counts as depth 1.

    Args:
        document: A parsed JSON value.
        max_depth: The deepest nesting allowed.

    Returns:
        True as soon as one container sits deeper than ``max_depth``.
    """
    if type(document) is not dict and type(document) is not list:
        return False
    pending = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > max_depth:
            return True
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                pending.append((child, depth + 1))
    return False


def describe_schema_violation(error: Any) -> str:
    """Rewrite a fastjsonschema error as a message that names the field, the rule and the value.

    Args:
        error: A ``fastjsonschema.JsonSchemaValueException``.

    Returns:
        E.g. ``"event.amount must be number (got str: '12')"``.
    """
    message = str(getattr(error, "message", error))
    if message.startswith("data"):
        # fastjsonschema calls the root "data"; "event" reads better in a DLQ header.
        message = "event" + message[4:]
    name = getattr(error, "name", "data")
    if name and name != "data":  # the failure is about one field: show what was there
        value = getattr(error, "value", None)
        preview = repr(value)
        if len(preview) > _MAX_VALUE_PREVIEW:
            preview = preview[:_MAX_VALUE_PREVIEW] + "..."
        message = f"{message} (got {type(value).__name__}: {preview})"
    return message
