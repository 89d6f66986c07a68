"""The engine's input boundary: decode and validate raw values, build dead-letter records."""

from engine.codec.decode import DecodedBatch, EventDecoder, Rejection
from engine.codec.dlq import (
    DeadLetterRecord,
    dead_letter_headers,
    parse_dead_letter_headers,
    validate_dead_letter_headers,
)
from engine.codec.reasons import DlqReason

__all__ = [
    "DeadLetterRecord",
    "DecodedBatch",
    "DlqReason",
    "EventDecoder",
    "Rejection",
    "dead_letter_headers",
    "parse_dead_letter_headers",
    "validate_dead_letter_headers",
]
