"""YAML files as the lowest-priority source of pydantic-settings classes.

Shared by every settings object loaded from a file (pipelines, the learner): CLI flags (init kwargs)
beat the environment, which beats the YAML document, which beats defaults; a validation failure
becomes one ``ConfigError`` line naming every bad field.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from engine.errors import ConfigError

#: The YAML document being loaded; a context variable so concurrent loads cannot mix files.
_DOCUMENT: ContextVar[dict[str, Any]] = ContextVar("_YAML_DOCUMENT", default={})

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class YamlSource(PydanticBaseSettingsSource):
    """Feeds the document set by :func:`build_settings` to pydantic-settings."""

    def get_field_value(self, field, field_name):  # noqa: D102 — required by the base class
        return _DOCUMENT.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_DOCUMENT.get())


def flags_to_nested(overrides: dict[str, Any]) -> dict[str, Any]:
    """``{"batching.max_rows": 9}`` → ``{"batching": {"max_rows": 9}}``; ``None`` values are dropped."""
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def build_settings(cls: type[SettingsT], document: dict[str, Any], overrides: dict[str, Any],
                   error_prefix: str) -> SettingsT:
    """Validate ``cls`` from flags + environment + ``document``; errors read ``<prefix> <field>: <msg>; ...``."""
    token = _DOCUMENT.set(document)
    try:
        return cls(**flags_to_nested(overrides))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{error_prefix} {problems}") from None
    finally:
        _DOCUMENT.reset(token)
