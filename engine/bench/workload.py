"""What the benchmark feeds and looks for, derived from the pipeline's plugin — never from a use case.

One pipeline YAML decides everything use-case specific: the plugin makes the events
(:meth:`~engine.pipeline.contract.PipelinePlugin.synthetic_events`), keys them
(:meth:`~engine.pipeline.contract.PipelinePlugin.entity_key`) and encodes them; the YAML's topics say
which catalog specs the benchmark's fresh topics copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.config.pipeline import PipelineSettings, load_pipeline, resolve_pipeline_path
from engine.errors import ConfigError
from engine.paths import PIPELINES_DIR
from engine.pipeline.contract import PipelinePlugin
from engine.pipeline.loader import load_plugin

#: Fields tried, in order, when a plugin declares no label join to name its output id.
_ID_FALLBACKS: tuple[str, ...] = ("event_id", "request_id", "id")


def pipeline_ref(name_or_path: str) -> str:
    """What contender processes get for ``--pipeline``: a shipped name as is, a YAML file as an
    absolute path (a contender may not share the bench's working directory forever)."""
    path = resolve_pipeline_path(name_or_path)
    return name_or_path if path.parent == PIPELINES_DIR and path.stem == name_or_path else str(path.resolve())


def plugin_of(settings: PipelineSettings) -> PipelinePlugin:
    """The configured plugin the pipeline settings name."""
    return load_plugin(settings.plugin, settings.plugin_options)


def load_plugin_for(name_or_path: str) -> tuple[PipelineSettings, PipelinePlugin]:
    """Settings and plugin of a pipeline, as a contender process loads them from its run spec."""
    settings = load_pipeline(name_or_path)
    return settings, plugin_of(settings)


def input_schema_of(settings: PipelineSettings, plugin: PipelinePlugin) -> str:
    """The schema ``serve`` validates input with: the YAML's ``topics.input_schema``, else the plugin's."""
    return settings.topics.input_schema or plugin.input_schema


def output_id_field(plugin: PipelinePlugin, sample: dict[str, Any]) -> str:
    """The field that ties an output record to the input event that caused it.

    Outputs are matched by a field both the input event and its output record carry, because the
    Kafka ceiling passes input bytes through untouched: a ``source`` offset would exist only in
    scored records. A plugin's label join already names that field (fraud: ``event_id``, recs:
    ``request_id``); a plugin without labels falls back to the first of ``event_id``,
    ``request_id``, ``id`` its events carry.

    Raises:
        ConfigError: If the events carry none of them (the bench could not match outputs).
    """
    candidates = (plugin.labels.key_field,) if plugin.labels else _ID_FALLBACKS
    for field in candidates:
        if isinstance(sample.get(field), str):
            return field
    raise ConfigError(f"pipeline {plugin.name!r}: synthetic events carry no string id field "
                      f"({', '.join(candidates)}); the bench cannot match outputs to inputs")


@dataclass(frozen=True)
class Workload:
    """The plugin-derived facts every part of the benchmark shares.

    Attributes:
        ref: The pipeline as contender processes get it (shipped name or absolute YAML path).
        plugin: The configured plugin (events, keys, tensors, output records).
        input_schema: Catalog topic (or ``.json`` file) validating input, as ``serve`` resolves it.
        id_field: Field matching an output record to its input event (see :func:`output_id_field`).
        role_topics: Catalog topic whose broker config each bench topic role (in/out/dlq) copies.
    """

    ref: str
    plugin: PipelinePlugin
    input_schema: str
    id_field: str
    role_topics: dict[str, str]

    @property
    def name(self) -> str:
        """The plugin's use case (``fraud``, ``recs``)."""
        return self.plugin.name

    @classmethod
    def of(cls, name_or_path: str, settings: PipelineSettings) -> Workload:
        """The workload of a pipeline whose settings are already loaded.

        Raises:
            ConfigError: If the plugin cannot be loaded, has no generator, or its events carry no id.
        """
        plugin = plugin_of(settings)
        try:
            sample = next(iter(plugin.synthetic_events(0)))
        except NotImplementedError as exc:
            raise ConfigError(f"pipeline {settings.name!r} cannot be benchmarked: {exc}") from None
        input_schema = input_schema_of(settings, plugin)
        # The input role copies the schema's catalog topic (a .json schema has none: the YAML's input).
        input_spec = settings.topics.input if input_schema.endswith(".json") else input_schema
        roles = {"in": input_spec, "out": settings.topics.output, "dlq": settings.topics.dead_letter}
        return cls(pipeline_ref(name_or_path), plugin, input_schema, output_id_field(plugin, sample), roles)

