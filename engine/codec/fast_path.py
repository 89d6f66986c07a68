"""A lean "definitely valid" check for flat object schemas, in front of fastjsonschema.

fastjsonschema's generated validators build error context as they go and cost ~15 us per
30-field event on the target machine; the hot path only needs a yes. This module compiles a
flat schema into one straight-line function of type and range comparisons (~3x faster).

Soundness rule: the fast path may only be *stricter* than the schema, never more lenient.
It accepts an integer field only as a Python ``int`` (the schema also allows ``1.0``), a string
only as exactly ``str``, and so on. Anything it does not accept goes to the compiled
fastjsonschema validator, which gives the authoritative verdict and the error message, so
the decoder's result is exactly fastjsonschema's.

Schemas using anything beyond the keywords below get no fast path (:func:`compile_fast_path`
returns None) and are validated by fastjsonschema alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

FastPath = Callable[[dict[str, Any]], bool]
"""Returns True only for events the full schema accepts; False means "ask the validator"."""

# Keywords that carry no constraint.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples"})
_TOP_LEVEL = _ANNOTATIONS | {"type", "properties", "required", "additionalProperties"}
_FIELD_KEYWORDS = _ANNOTATIONS | {
    "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minLength", "maxLength", "pattern",
}  # fmt: skip
# Exact-type tests, each a subset of what the JSON Schema type admits.
_TYPE_TESTS = {
    "integer": "type({v}) is int",
    "number": "(type({v}) is float or type({v}) is int)",
    "string": "type({v}) is str",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
}
_SCALAR_TYPES = {"integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,)}
# fastjsonschema anchors "$" at the very end of the string (Python's "$" also matches before a
# trailing newline); the same rewrite keeps both checks on the same language.
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_COMPARISONS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def compile_fast_path(schema: dict[str, Any]) -> FastPath | None:
    """Compile a fast accept-check for a flat object schema.

    Applies when the schema is an object with ``additionalProperties: false``, every property
    required, and every property a scalar constrained only by type, enum, const, numeric
    bounds, string length or pattern.

    Args:
        schema: A draft-07 JSON Schema (already known to be valid).

    Returns:
        The check, or None when the schema is outside that subset.
    """
    properties = schema.get("properties")
    if (
        not set(schema) <= _TOP_LEVEL
        or schema.get("type") != "object"
        or schema.get("additionalProperties") is not False
        or not isinstance(properties, dict)
        or not properties
        or set(schema.get("required", ())) != set(properties)
    ):
        return None
    namespace: dict[str, Any] = {"KEYS": frozenset(properties)}
    lines = ["def fast_path(event):", "    if event.keys() != KEYS:", "        return False"]
    for position, (name, field_schema) in enumerate(properties.items()):
        conditions = _field_conditions(f"v{position}", position, field_schema, namespace)
        if conditions is None:
            return None
        lines.append(f"    v{position} = event[{name!r}]")
        lines.append(f"    if not ({' and '.join(conditions)}):")
        lines.append("        return False")
    lines.append("    return True")
    exec(compile("\n".join(lines), "<fast_path>", "exec"), namespace)  # noqa: S102 - our code
    return namespace["fast_path"]


def _field_conditions(
    variable: str, position: int, schema: Any, namespace: dict[str, Any]
) -> list[str] | None:
    """Python conditions that imply ``schema`` holds for ``variable``; None if unsupported."""
    if not isinstance(schema, dict) or not set(schema) <= _FIELD_KEYWORDS:
        return None
    json_type = schema.get("type")
    if not isinstance(json_type, str) or json_type not in _TYPE_TESTS:
        return None  # no type, or a list of types: leave it to fastjsonschema
    conditions = [_TYPE_TESTS[json_type].format(v=variable)]
    if "enum" in schema or "const" in schema:
        allowed = schema["enum"] if "enum" in schema else [schema["const"]]
        # Only values of the field's own Python type: keeps True from matching 1, 1.0 from 1.
        if not isinstance(allowed, list) or not all(
            type(value) in _SCALAR_TYPES.get(json_type, ()) for value in allowed
        ):
            return None
        namespace[f"ALLOWED{position}"] = frozenset(allowed)
        conditions.append(f"{variable} in ALLOWED{position}")
    for keyword, operator in _COMPARISONS.items():
        if keyword in schema:
            bound = schema[keyword]
            if json_type not in ("integer", "number") or type(bound) not in (int, float):
                return None
            conditions.append(f"{variable} {operator} {bound!r}")
    for keyword, operator in (("minLength", ">="), ("maxLength", "<=")):
        if keyword in schema:
            if json_type != "string" or type(schema[keyword]) is not int:
                return None
            conditions.append(f"len({variable}) {operator} {schema[keyword]!r}")
    if "pattern" in schema:
        if json_type != "string":
            return None
        regex = re.compile(_UNESCAPED_DOLLAR.sub(r"\\Z", schema["pattern"]))
        namespace[f"PATTERN{position}"] = regex.search
        conditions.append(f"PATTERN{position}({variable}) is not None")
    return conditions
