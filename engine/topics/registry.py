"""Compiled JSON Schema validators, one per topic, built once at start-up."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema

from engine.codec.fast_path import FastPath, compile_fast_path
from engine.errors import ConfigError
from engine.topics.specs import TopicCatalog

Validator = Callable[[Any], Any]
"""Returns its argument when valid; raises ``fastjsonschema.JsonSchemaValueException``."""


class SchemaRegistry:
    """Every topic's schema, compiled to Python by fastjsonschema.

    Compiling generates and execs Python source (milliseconds per schema), so it happens once
    here; the hot path only calls the resulting functions. Typical use::

        registry = SchemaRegistry(TopicCatalog.load())
        decoder = EventDecoder(
            registry.validator("fraud.transactions"),
            fast_path=registry.fast_path("fraud.transactions"),
        )

    Args:
        catalog: Topics whose schemas to compile.

    Raises:
        ConfigError: If a schema cannot be read or compiled.
    """

    def __init__(self, catalog: TopicCatalog) -> None:
        self._validators: dict[str, Validator] = {}
        self._schemas: dict[str, dict[str, Any]] = {}
        self._fast_paths: dict[str, FastPath | None] = {}
        for spec in catalog:
            schema = catalog.read_schema(spec)
            try:
                self._validators[spec.name] = fastjsonschema.compile(schema)
            except Exception as error:  # noqa: BLE001 - re.error, JsonSchemaDefinitionException...
                raise ConfigError(
                    f"topic {spec.name!r}: schema_file {spec.schema_file!r} "
                    f"does not compile: {error}"
                ) from error
            self._schemas[spec.name] = schema
            self._fast_paths[spec.name] = compile_fast_path(schema)

    def validator(self, topic: str) -> Validator:
        """The compiled validator of one topic's records.

        Raises:
            ConfigError: If the topic is not in the catalog.
        """
        try:
            return self._validators[topic]
        except KeyError:
            known = ", ".join(sorted(self._validators))
            raise ConfigError(f"no schema for topic {topic!r} (known: {known})") from None

    def fast_path(self, topic: str) -> FastPath | None:
        """The fast accept-check of one topic's records, if its schema is flat enough.

        See :mod:`engine.codec.fast_path`; pass it to ``EventDecoder(fast_path=...)``.

        Raises:
            ConfigError: If the topic is not in the catalog.
        """
        self.validator(topic)  # same error for unknown topics
        return self._fast_paths[topic]

    def schema(self, topic: str) -> dict[str, Any]:
        """The parsed JSON Schema of one topic (treat as read-only).

        Raises:
            ConfigError: If the topic is not in the catalog.
        """
        self.validator(topic)  # same error for unknown topics
        return self._schemas[topic]

    @property
    def topics(self) -> list[str]:
        """Topics with a schema."""
        return list(self._validators)


def compile_schema_file(path: str | Path) -> tuple[Validator, FastPath | None]:
    """Validator and fast path of a JSON Schema file outside the topic catalog (a pipeline plugin's own
    input schema).

    Raises:
        ConfigError: If the file cannot be read, is not JSON, or does not compile.
    """
    path = Path(path)
    try:
        schema = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"input schema {path}: cannot read it as JSON: {error}") from None
    try:
        return fastjsonschema.compile(schema), compile_fast_path(schema)
    except Exception as error:  # noqa: BLE001 - re.error, JsonSchemaDefinitionException...
        raise ConfigError(f"input schema {path}: does not compile: {error}") from None

