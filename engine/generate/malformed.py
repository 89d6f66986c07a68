"""A catalogue of malformed inputs, one per dead-letter reason, used by the demo and load tools."""

from __future__ import annotations

import random

import orjson

#: (expected reason, payload builder from a valid event)
_BUILDERS = [
    ("empty_value", lambda e: b""),
    ("invalid_utf8", lambda e: b'{"event_id": "\xff\xfe"}'),
    ("not_json", lambda e: b"amount=12;card=oops"),
    ("non_finite_number", lambda e: orjson.dumps(e).replace(b'"amount":', b'"amount":NaN,"_x":', 1)),
    ("not_an_object", lambda e: b"[1, 2, 3]"),
    ("schema_violation", lambda e: orjson.dumps({**e, "amount": str(e["amount"])})),
    ("schema_violation", lambda e: orjson.dumps({k: v for k, v in e.items() if k != "card_id"})),
    ("unknown_schema_version", lambda e: orjson.dumps({**e, "schema_version": 99})),
    ("nesting_too_deep", lambda e: b"[" * 200 + b"]" * 200),
]


def malformed_payload(event: dict, rng: random.Random) -> tuple[str, bytes]:
    """A malformed payload derived from ``event`` and the reason the engine should give."""
    reason, build = rng.choice(_BUILDERS)
    return reason, build(event)
