"""Checks that a document is a valid draft-07 JSON Schema, against the official meta-schema."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any, Callable

import fastjsonschema

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
# The official draft-07 meta-schema, vendored: validation must not fetch anything.
META_SCHEMA_PATH = (
    Path(__file__).resolve().parents[2] / "topics" / "meta" / "json-schema-draft-07.json"
)


@cache
def _meta_validator() -> Callable[[Any], Any]:
    meta = json.loads(META_SCHEMA_PATH.read_text(encoding="utf-8"))
    # use_default=False: the meta-schema declares defaults that would otherwise be written
    # into the schema being checked.
    return fastjsonschema.compile(meta, use_default=False)


def check_json_schema(schema: Any) -> str | None:
    """Why ``schema`` is not a usable draft-07 JSON Schema, or None if it is.

    Checks the ``$schema`` declaration, validates against the meta-schema, then compiles it
    (which catches what the meta-schema cannot: an invalid ``pattern`` regex, a bad ``$ref``).

    Args:
        schema: A parsed JSON document.

    Returns:
        A one-line problem description, or None.
    """
    if not isinstance(schema, dict):
        return f"expected a JSON object, got {type(schema).__name__}"
    if schema.get("$schema") != DRAFT_07:
        return f"$schema must be {DRAFT_07!r}, got {schema.get('$schema')!r}"
    try:
        _meta_validator()(copy.deepcopy(schema))
    except fastjsonschema.JsonSchemaValueException as error:
        # fastjsonschema calls the document "data"; here the document is the schema.
        return "schema" + error.message[4:] if error.message.startswith("data") else error.message
    try:
        fastjsonschema.compile(schema)
    except Exception as error:  # noqa: BLE001 - compile raises re.error, definition errors...
        return f"does not compile: {error}"
    return None
