"""Find and instantiate the plugin a pipeline YAML names (``plugin: module:object``)."""

from __future__ import annotations

import importlib
from typing import Any

from engine.errors import ConfigError
from engine.pipeline.contract import PipelinePlugin


def load_plugin(import_path: str, options: dict[str, Any] | None = None) -> PipelinePlugin:
    """Import ``module:object`` — a :class:`PipelinePlugin` subclass — and configure it.

    Raises:
        ConfigError: The module or object is missing, is not a plugin, or its options are invalid.
    """
    module_name, sep, object_name = import_path.partition(":")
    if not sep or not module_name or not object_name:
        raise ConfigError(f"plugin must be 'module:object', got {import_path!r}")
    try:
        target = getattr(importlib.import_module(module_name), object_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"plugin: cannot import {import_path!r}: {exc}") from None
    if not (isinstance(target, type) and issubclass(target, PipelinePlugin)):
        raise ConfigError(f"plugin {import_path!r} is not a PipelinePlugin subclass (got {type(target).__name__})")
    for required in ("name", "input_schema", "model_inputs", "model_outputs"):
        if not getattr(target, required):
            raise ConfigError(f"plugin {import_path!r} does not set {required}")
    return target.configured(options)
