"""Why an input record was dead-lettered: one stable code per failure class.

The codes are written into the ``streaminfer.dlq.reason`` header and documented in
every ``topics/schemas/*.dlq.v1.json``; dashboards and replay tooling match on them, so a code is
never renamed, only added.
"""

from __future__ import annotations

from enum import Enum


class DlqReason(str, Enum):
    """Failure class of a dead-lettered record; the value is the on-the-wire code."""

    EMPTY_VALUE = "empty_value"
    """The record value is null (a tombstone) or zero bytes long."""
    TOO_LARGE = "too_large"
    """The value is longer than the decoder's ``max_bytes``."""
    INVALID_UTF8 = "invalid_utf8"
    """The value is not valid UTF-8 (JSON text must be)."""
    NOT_JSON = "not_json"
    """The value is UTF-8 but not one valid JSON document."""
    NON_FINITE_NUMBER = "non_finite_number"
    """A ``NaN``/``Infinity`` literal, or a number that overflows a 64-bit float (``1e400``)."""
    NESTING_TOO_DEEP = "nesting_too_deep"
    """Objects/arrays nest deeper than the decoder's ``max_depth`` (or the parser's own limit)."""
    NOT_AN_OBJECT = "not_an_object"
    """The document is valid JSON but not an object (an array, string, number...)."""
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    """``schema_version`` is a number this worker does not support (e.g. a newer producer)."""
    SCHEMA_VIOLATION = "schema_violation"
    """A field is missing, has the wrong type, is out of range, or is not allowed."""
    FEATURE_EXTRACTION_FAILED = "feature_extraction_failed"
    """The event was valid but the engine could not turn it into model features."""
    LIMIT_EXCEEDED = "limit_exceeded"
    """A list in the event is longer than the pipeline's configured maximum (e.g. recs' ``max_candidates``)."""

    def __str__(self) -> str:
        # str(reason) is what goes into headers and logs: the bare code, not "DlqReason.X".
        return self.value
