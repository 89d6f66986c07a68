"""Wires a ServeWorker from pipeline settings; everything is checked before data flows."""

from __future__ import annotations

import logging
import threading

from engine.batching.batch_builder import BatchBuilder
from engine.codec.decode import EventDecoder
from engine.config.pipeline import PipelineSettings
from engine.inference.triton_client import TritonInferenceClient
from engine.metrics.serve_metrics import ServeMetrics
from engine.pipeline.contract import PipelinePlugin
from engine.pipeline.loader import load_plugin
from engine.rollout.store import PlanWatcher
from engine.alerts.manager import AlertBuilder, AlertManager, AlertPublisher
from engine.alerts.gate import AlertGate
from engine.serve.health_alerts import HotPathAlerts
from engine.serve.worker import ServeWorker
from engine.topics.registry import SchemaRegistry, compile_schema_file

log = logging.getLogger("streaminfer.serve")
from engine.topics.specs import TopicCatalog


def build_worker(settings: PipelineSettings, instance: str, metrics: ServeMetrics | None = None,
                 stop_requested: threading.Event | None = None) -> ServeWorker:
    """Build the plugin, decoder, batch builder, Triton client and worker for ``settings``."""
    plugin = load_plugin(settings.plugin, settings.plugin_options)
    check_batch_fits_model(settings, plugin)
    builder = BatchBuilder(build_decoder(settings, plugin), plugin, settings.batching.max_rows,
                           settings.batching.max_delay_ms / 1000.0)
    metrics = metrics or ServeMetrics(settings.name)
    metrics.serve_http(settings.metrics.host, settings.metrics.port)
    plans = PlanWatcher(settings.kafka.bootstrap_servers, settings.rollout.plan_topic_for(settings.name),
                        settings.kafka.client_security())
    return ServeWorker(settings, builder, TritonInferenceClient(settings.triton, plugin.model_outputs), instance,
                       metrics, stop_requested=stop_requested, alerts=build_alerts(settings), plans=plans,
                       default_version=pinned_default_version(settings))


def pinned_default_version(settings: PipelineSettings) -> str:
    """The version to serve while no rollout plan names a champion: the configured one, else the newest
    version Triton has ready now. Pinned at start, because Triton's "newest" moves the moment a
    candidate is loaded beside the champion. '' (Triton's newest, per request) only when Triton cannot
    be asked now: the worker rides out an outage, and says so."""
    from engine.inference.model_control import ModelControl

    if settings.triton.model_version:
        return settings.triton.model_version
    ready = ModelControl(settings.triton.http_url, timeout_s=3.0).ready_versions(settings.triton.model_name)
    if not ready:
        log.warning("no ready version of %r in Triton now: serving Triton's newest until a rollout plan names "
                    "a champion", settings.triton.model_name)
        return ""
    log.info("no version configured: serving %r version %s (the newest ready now) until a rollout plan "
             "names a champion", settings.triton.model_name, ready[-1])
    return ready[-1]


def check_batch_fits_model(settings: PipelineSettings, plugin: PipelinePlugin) -> None:
    """Refuse to start when a full micro-batch can exceed the model's ``max_batch_size``: Triton would
    reject such a request as a model error on every retry, and the partition would never move again.
    Skipped (with a log line) when Triton cannot be asked now: the worker rides out an outage anyway."""
    from engine.errors import ConfigError
    from engine.inference.model_control import ModelControl

    per_event = plugin.max_rows_per_event()
    if per_event is None:
        return
    name = settings.triton.model_name
    limit = ModelControl(settings.triton.http_url, timeout_s=3.0).max_batch_size(name)
    if limit is None:
        log.warning("cannot read %r's max_batch_size from Triton now; batch size not checked", name)
        return
    rows = settings.batching.max_rows * per_event
    if limit > 0 and rows > limit:
        raise ConfigError(f"batching.max_rows {settings.batching.max_rows} × up to {per_event} rows per event "
                          f"(plugin {plugin.name!r}) = {rows:,} rows, more than model {name!r} accepts "
                          f"(max_batch_size {limit:,}): lower batching.max_rows or the plugin's limit")


def build_decoder(settings: PipelineSettings, plugin: PipelinePlugin) -> EventDecoder:
    """The input decoder: the schema the pipeline (or else its plugin) names — a catalog topic, or a
    ``.json`` file a plugin ships beside its code — and the input limits."""
    schema = settings.topics.input_schema or plugin.input_schema
    if schema.endswith(".json"):
        validator, fast_path = compile_schema_file(schema)
    else:
        registry = SchemaRegistry(TopicCatalog.load())
        validator, fast_path = registry.validator(schema), registry.fast_path(schema)
    return EventDecoder(validator, max_bytes=settings.limits.max_message_bytes,
                        max_depth=settings.limits.max_json_depth, fast_path=fast_path)


def build_alerts(settings: PipelineSettings) -> HotPathAlerts | None:
    """The hot path's own alerting, publishing to ``topics.alerts`` (None when disabled)."""
    if not settings.alerts.enabled:
        return None
    publisher = AlertPublisher(settings.kafka.bootstrap_servers, settings.topics.alerts,
                               config=settings.kafka.client_security())
    manager = AlertManager(AlertBuilder(settings.name, model_name=settings.triton.model_name),
                           AlertGate(cooldown_ms=int(settings.alerts.cooldown_s * 1000)), publisher)
    return HotPathAlerts(settings.alerts, manager, subject=settings.triton.model_name)
