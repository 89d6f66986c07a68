"""faust-streaming wiring of ``streaminfer learn``: the join table, three readers, timers.

- the join lives in a memory table whose changelog (``<app_id>-join-changelog``, created by faust) makes
  it survive restarts; outputs, labels (and inputs) must be co-partitioned, which is checked here;
- three tasks read the pipeline's input, output and labels topics with librdkafka batch
  consumes (:mod:`engine.learn.kafka_io`, ``read_committed``) into :class:`LearnCore`. faust's own
  consumer costs ~300 µs per record on the 2-core box: a bare faust agent tops out near 3k records/s,
  while every one of these topics carries the hot path's full rate (~20k/s). faust's consumer is left
  with its changelog, which it restores the table from before any reader starts;
- the readers start from the positions restored with the learner's state (:mod:`engine.learn.positions`)
  and commit nothing: a restart re-reads exactly what the last checkpoint does not reflect;
- timers sweep the join, checkpoint sealed state (after the changelog writes it covers are flushed) and
  export lag.

One worker owns every partition (the learners are global models): a second instance of the same app
would fence the first (static membership), not share the work.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass, field
from typing import Any

import faust
from confluent_kafka.admin import AdminClient

from engine.pipeline.loader import load_plugin
from engine.codec.decode import EventDecoder
from engine.config.pipeline import PipelineSettings
from engine.errors import ConfigError
from engine.alerts.manager import AlertBuilder, AlertManager, AlertPublisher
from engine.learn.checkpoint import Checkpointer
from engine.learn.core import LearnCore
from engine.alerts.gate import AlertGate
from engine.learn.faust_store import ChangelogWriter, FaustTableStore
from engine.learn.join import ScoreLabelJoin
from engine.learn.ranking.core import RankingCore
from engine.learn.ranking.join import RankedFeedbackJoin
from engine.learn.kafka_io import ShadowPublisher, TopicReader
from engine.learn.settings import BaseLearnSettings
from engine.learn.state import KafkaStateStore, load_or_create_key
from engine.learn.telemetry import LearnMetrics
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog

log = logging.getLogger("streaminfer.learn")


@dataclass
class LearnRuntime:
    """Everything one learner process runs; built by :func:`build_learn_app`."""

    app: faust.App
    core: LearnCore | RankingCore
    checkpointer: Checkpointer
    publisher: AlertPublisher
    metrics: LearnMetrics
    pipeline: PipelineSettings
    settings: BaseLearnSettings
    changelog: ChangelogWriter
    shadow: ShadowPublisher | None = None
    readers: list[TopicReader] = field(default_factory=list)
    datadir: Any = field(default=None, repr=False)

    def restore(self) -> dict[str, int]:
        """Create the state topic if needed and restore sealed state (refusing tampered blobs, with alerts)."""
        self.checkpointer.store.ensure_topic()

        def refused(component: str, reason: str) -> None:
            evidence = {"detector": "hmac_sha256", "summary": f"{reason}; starting {component} fresh",
                        "statistic": None, "window": None, "topic": self.checkpointer.store.topic,
                        "component": component}
            self.core.alerts.raise_alert("state_integrity", component, evidence, detector="hmac_sha256")

        statuses = self.checkpointer.restore(refused)
        self.publisher.flush(10)
        return statuses

    def checkpoint(self) -> None:
        """Seal every component now and save it once the join writes it covers are on the changelog.

        Flushing first keeps the restored table at least as far as the restored positions after a kill -9:
        nothing below them can be missing from the table. The table may be ahead of them: re-read records
        then merge into the entries that already hold them, except a half whose pair completed (and left
        the table) after the checkpoint — that pair's learning is lost with everything else learned after
        the last checkpoint, and the re-read half expires unmatched. The flush blocks the event loop (tens
        of ms every interval), so no join write can slip in between the seal and the flush.
        """
        blobs = self.checkpointer.seal()
        pending = self.changelog.flush(10.0)
        if pending:
            log.warning("checkpoint skipped: %d join changelog records still unacknowledged", pending)
            self.metrics.checkpoint("failed")
            return
        size = self.checkpointer.save(blobs)
        log.debug("checkpoint: %d bytes", size)

    def probe_lag(self) -> None:
        """Export the readers' lag (blocking; runs in an executor)."""
        try:
            for reader in list(self.readers):
                for partition, lag in reader.lag().items():
                    self.metrics.set_lag(reader.topic, partition, lag)
        except Exception as exc:  # noqa: BLE001 — a metrics probe must never stop the learner
            log.warning("lag probe failed: %s", exc)


def _partitions(bootstrap: str, topics: list[str]) -> dict[str, int]:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
    missing = [t for t in topics if t not in metadata.topics or metadata.topics[t].error is not None]
    if missing:
        raise ConfigError(f"learn: topics missing on {bootstrap}: {', '.join(missing)} (streaminfer topics apply)")
    return {t: len(metadata.topics[t].partitions) for t in topics}


def build_learn_app(pipeline: PipelineSettings, settings: BaseLearnSettings,
                    metrics: LearnMetrics | None = None) -> LearnRuntime:
    """Check topics, build the core and the faust app; nothing consumes until the worker starts.

    Raises:
        ConfigError: Missing topics, non-co-partitioned topics or unsupported Kafka security settings.
    """
    kafka, topics = pipeline.kafka, pipeline.topics
    if kafka.security_protocol != "PLAINTEXT":
        raise ConfigError("learn: only PLAINTEXT Kafka is wired into the faust app so far")
    bootstrap = kafka.bootstrap_servers
    joined = [topics.output, settings.topics.labels] + ([topics.input] if settings.shadow.enabled else [])
    needed = [topics.input, topics.output, settings.topics.labels, topics.alerts]
    if settings.shadow.enabled and settings.shadow.publish_records:
        needed.append(settings.topics.shadow)
    counts = _partitions(bootstrap, needed)
    if len({counts[t] for t in joined}) != 1:
        raise ConfigError("learn: the join needs co-partitioned topics (same key, same partition count): "
                          + ", ".join(f"{t}={counts[t]}" for t in joined))
    partitions = counts[topics.output]

    metrics = metrics or LearnMetrics(pipeline.name)
    plugin = load_plugin(pipeline.plugin, pipeline.plugin_options)
    learning = plugin.learning
    if learning is None:
        raise ConfigError(f"learn: pipeline plugin {pipeline.plugin!r} has no learning side (.learning is None)")
    if not isinstance(settings, learning.settings_class):
        raise ConfigError(f"learn: {pipeline.name} needs {learning.settings_class.__name__}, "
                          f"got {type(settings).__name__}")
    schema_topic = topics.input_schema or plugin.input_schema
    registry = SchemaRegistry(TopicCatalog.load())
    decoder = EventDecoder(registry.validator(schema_topic), fast_path=registry.fast_path(schema_topic),
                           max_bytes=pipeline.limits.max_message_bytes, max_depth=pipeline.limits.max_json_depth)
    publisher = AlertPublisher(bootstrap, topics.alerts)
    alerts = AlertManager(AlertBuilder(pipeline.name, pipeline.triton.model_name),
                          AlertGate(int(settings.alerts.cooldown_s * 1000)), publisher,
                          severity=settings.alerts.severity)

    datadir = tempfile.TemporaryDirectory(prefix="streaminfer-learn-")  # memory store: nothing to keep
    stream = settings.stream
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",")],
        store="memory://", datadir=datadir.name, web_enabled=False, topic_disable_leader=True,
        topic_partitions=partitions, topic_replication_factor=stream.replication_factor,
        consumer_auto_offset_reset=stream.start_from, consumer_group_instance_id=f"{settings.app_id}-{stream.instance}",
        broker_session_timeout=stream.session_timeout_s, broker_heartbeat_interval=min(3.0, stream.session_timeout_s / 3),
        broker_commit_interval=stream.commit_interval_s, stream_wait_empty=False,
        producer_linger_ms=20, producer_acks=-1, producer_max_batch_size=256 * 1024,
    )
    table = app.Table("join", partitions=partitions, key_type=bytes, value_type=bytes, default=None,
                      help=f"{topics.output} ⋈ {settings.topics.labels} by event_id")
    changelog = ChangelogWriter(bootstrap, table.changelog_topic_name)
    store = FaustTableStore(table, changelog)
    ttl_ms, max_pending = int(settings.join.ttl_s * 1000), settings.join.max_pending
    shadow = ShadowPublisher(bootstrap, settings.topics.shadow) \
        if settings.shadow.enabled and settings.shadow.publish_records else None
    if not settings.app_id or not settings.topics.labels or not settings.topics.shadow:
        raise ConfigError("learn: app_id and topics.labels/shadow must be set (load_learn_settings fills them)")
    if learning.kind == "ranking":
        core = RankingCore(pipeline.name, settings, learning, decoder, RankedFeedbackJoin(store, ttl_ms, max_pending),
                           alerts, metrics, shadow_sink=shadow)
    else:
        core = LearnCore(pipeline.name, settings, learning.feature_names, learning.extract, decoder,
                         ScoreLabelJoin(store, ttl_ms, max_pending), alerts, metrics, shadow_sink=shadow,
                         streams=learning.streams)
    store = KafkaStateStore(bootstrap, settings.state_topic, settings.state.max_blob_bytes,
                            replication_factor=stream.replication_factor)
    key_secret = settings.state_key.get_secret_value().encode() if settings.state_key else None
    key = load_or_create_key(key_secret, settings.state_key_file())
    checkpointer = Checkpointer(core, store, key, metrics, (topics.input, topics.output, settings.topics.labels))
    runtime = LearnRuntime(app, core, checkpointer, publisher, metrics, pipeline, settings, changelog,
                           shadow=shadow, datadir=datadir)
    _wire(runtime)
    return runtime


def _wire(runtime: LearnRuntime) -> None:
    app, core, settings, topics = runtime.app, runtime.core, runtime.settings, runtime.pipeline.topics
    batch, within = settings.stream.batch_max, settings.stream.batch_within_s

    def recovered() -> bool:
        return app.tables.recovery.completed.is_set()

    async def read(topic: str, stream: str, handle: Any, keep: Any = None) -> None:
        while not recovered():  # every reader writes into the join table: only once faust restored it
            await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        reader = await loop.run_in_executor(None, lambda: TopicReader(
            runtime.pipeline.kafka.bootstrap_servers, topic, core.positions.of(topic), settings.stream.start_from,
            batch * 5, keep=keep))
        core.positions.advance_to(topic, reader.positions)  # where each partition starts, saved from now on
        runtime.readers.append(reader)
        while not app.should_stop:
            records = await loop.run_in_executor(None, reader.poll, within)
            if records:
                handle(topic, records)
            if reader.consumed:
                core.on_skipped(topic, stream, reader.consumed - len(records), reader.positions)

    @app.task
    async def scores() -> None:
        await read(topics.output, core.output_stream, core.on_outputs)

    @app.task
    async def labels() -> None:
        # Only labels of sampled keys can join anything: the rest are dropped by key, undecoded.
        await read(settings.topics.labels, "labels", core.on_labels, core.join_sampler.keep)

    @app.task
    async def inputs() -> None:
        if core.detectors.features is not None or core.shadow is not None:
            await read(topics.input, core.input_stream, core.on_inputs, core.wants_input)

    @app.timer(settings.join.sweep_interval_s, name="learn-sweep")
    async def sweep() -> None:
        if recovered():
            core.sweep()

    @app.timer(settings.state.checkpoint_interval_s, name="learn-checkpoint")
    async def checkpoint() -> None:
        if settings.state.enabled and recovered():
            runtime.checkpoint()

    @app.timer(settings.metrics.lag_interval_s, name="learn-lag")
    async def lag() -> None:
        await asyncio.get_running_loop().run_in_executor(None, runtime.probe_lag)

    async def before_shutdown(*_args: Any, **_kwargs: Any) -> None:
        if settings.state.enabled and recovered():
            runtime.checkpoint()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, runtime.changelog.flush, 10.0)
        await loop.run_in_executor(None, runtime.checkpointer.store.flush, 10.0)
        await loop.run_in_executor(None, runtime.publisher.flush, 10.0)
        if runtime.shadow is not None:
            await loop.run_in_executor(None, runtime.shadow.flush, 10.0)
        log.info("learner stopped: %s", core.join.counters)

    app.on_before_shutdown.connect(before_shutdown)
