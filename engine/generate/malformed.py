"""A catalogue of malformed inputs, one per dead-letter reason, used by the demo and load tools."""

from __future__ import annotations

import random

import orjson

def _first_key(event: dict, kind: tuple[type, ...]) -> str:
    """The first top-level field holding a value of ``kind`` (bools are not numbers here)."""
    for key, value in event.items():
        if key != "schema_version" and isinstance(value, kind) and not isinstance(value, bool):
            return key
    raise ValueError(f"event has no {kind} field to corrupt")


def _non_finite(e: dict) -> bytes:
    key = _first_key(e, (int, float)).encode()
    return orjson.dumps(e).replace(b'"' + key + b'":', b'"' + key + b'":NaN,"_x":', 1)


# Built from any pipeline's valid event, using only what every input schema here does: objects that
# forbid extra fields, typed fields, a schema_version.
#: (expected reason, payload builder from a valid event)
_BUILDERS = [
    ("empty_value", lambda e: b""),
    ("invalid_utf8", lambda e: b'{"event_id": "\xff\xfe"}'),
    ("not_json", lambda e: b"amount=12;card=oops"),
    ("non_finite_number", _non_finite),
    ("not_an_object", lambda e: b"[1, 2, 3]"),
    ("schema_violation", lambda e: orjson.dumps({**e, _first_key(e, (str,)): 12345})),
    ("schema_violation", lambda e: orjson.dumps({**e, "unexpected_field": True})),
    ("unknown_schema_version", lambda e: orjson.dumps({**e, "schema_version": 99})),
    ("nesting_too_deep", lambda e: b"[" * 200 + b"]" * 200),
]


def malformed_payload(event: dict, rng: random.Random) -> tuple[str, bytes]:
    """A malformed payload derived from ``event`` and the reason the engine should give."""
    reason, build = rng.choice(_BUILDERS)
    return reason, build(event)
