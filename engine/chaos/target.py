"""The pipeline a chaos run puts under faults (``--pipeline``), and everything the run derives from it.

One pipeline YAML decides everything use-case specific: the plugin's input schema (what the private
input topic holds), the YAML's output and dead-letter topics (whose catalog configs the private topics
copy), ``triton.model_name`` (what must be READY before the run and after a Triton restart) and the
generator (``streaminfer generate events --pipeline``). Everything is checked here, before any topic
is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from engine.config.pipeline import PipelineSettings, load_pipeline, resolve_pipeline_path
from engine.errors import ConfigError
from engine.pipeline.contract import PipelinePlugin
from engine.pipeline.loader import load_plugin

#: ``--rate`` when none is given, by plugin name: a rate the engine sustains on a 2-core box with the
#: broker, Triton, up to three workers and the generator sharing it, with headroom to catch up after
#: each fault. fraud: one model row per event, measured PASS at 5,000/s. recs: each request brings ~53
#: candidate rows and saturates near 6,500 requests/s with the whole box to itself, so 1,000/s.
DEFAULT_RATES: Mapping[str, float] = MappingProxyType({"fraud": 5000.0, "recs": 1000.0})
#: ``--rate`` of any other pipeline: the cautious one (an unknown cost per event).
FALLBACK_RATE = 1000.0


@dataclass(frozen=True)
class ChaosTarget:
    """A pipeline resolved for a chaos run.

    Attributes:
        ref: The pipeline as given (a shipped name, or a YAML path).
        base: Its YAML file: the run's private pipeline is derived from it.
        name: The pipeline's name (its YAML ``name``).
        use_case: The plugin's name (``fraud``, ``recs``).
        input_schema: What validates input, as ``serve`` resolves it (YAML ``topics.input_schema``, else
            the plugin's): a catalog topic or a ``.json`` file.
        model_name: ``triton.model_name``: READY before the run, and again after a Triton restart.
        role_topics: Catalog topic whose broker config each private topic copies, by role (``input``,
            ``output``, ``dead_letter``, ``alerts``); a topic the catalog lacks gets the broker's defaults.
        default_rate: Events per second when ``--rate`` is not given.
    """

    ref: str
    base: Path
    name: str
    use_case: str
    input_schema: str
    model_name: str
    role_topics: Mapping[str, str]
    default_rate: float

    @classmethod
    def load(cls, ref: str) -> ChaosTarget:
        """Resolve a shipped pipeline name or a YAML path.

        Raises:
            ConfigError: The pipeline or its plugin is invalid, or the plugin has no generator.
        """
        settings = load_pipeline(ref)
        return cls.of(ref, resolve_pipeline_path(ref), settings,
                      load_plugin(settings.plugin, settings.plugin_options))

    @classmethod
    def of(cls, ref: str, base: Path, settings: PipelineSettings, plugin: PipelinePlugin) -> ChaosTarget:
        """The target of already loaded settings and plugin (``ConfigError`` if it has no generator)."""
        try:
            next(iter(plugin.synthetic_events(0)))
        except NotImplementedError as exc:
            raise ConfigError(f"pipeline {settings.name!r} cannot run under chaos: {exc}") from None
        input_schema = settings.topics.input_schema or plugin.input_schema
        topics = settings.topics
        # The input copies its schema's catalog topic; a .json schema has none: then the YAML's input.
        roles = {"input": topics.input if input_schema.endswith(".json") else input_schema,
                 "output": topics.output, "dead_letter": topics.dead_letter, "alerts": topics.alerts}
        return cls(ref, base.resolve(), settings.name, plugin.name, input_schema, settings.triton.model_name,
                   MappingProxyType(roles), DEFAULT_RATES.get(plugin.name, FALLBACK_RATE))

    def describe(self) -> dict[str, object]:
        """The target as plain values (JSON)."""
        return {"pipeline": self.name, "ref": self.ref, "base": str(self.base), "use_case": self.use_case,
                "input_schema": self.input_schema, "model_name": self.model_name,
                "role_topics": dict(self.role_topics)}
