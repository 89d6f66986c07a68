"""Typed pipeline configuration: a YAML file shipped in ``compose/pipelines/`` plus environment overrides.

Precedence (highest first): environment variables ``STREAMINFER_<SECTION>__<FIELD>`` (for example
``STREAMINFER_KAFKA__BOOTSTRAP_SERVERS=broker:9092`` or ``STREAMINFER_BATCHING__MAX_ROWS=4096``), then
the YAML file, then the defaults below. Everything is validated at start; a bad value is one clear
error naming the field, never a crash later in the stream.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from engine.config.yaml_source import YamlSource, build_settings
from engine.errors import ConfigError
from engine.paths import PIPELINES_DIR
from engine.rollout.analysis import AnalysisSettings


class DeliveryMode(str, Enum):
    """How scores and offsets reach Kafka."""

    EXACTLY_ONCE = "exactly-once"   # Kafka transactions: outputs and offsets commit atomically
    AT_LEAST_ONCE = "at-least-once"  # idempotent producer; offsets stored only after delivery reports


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    """Where the engine reads and writes, and how it commits."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap list.")
    group_id: str = Field("streaminfer-fraud", min_length=1, description="Consumer group of the serve workers.")
    delivery: DeliveryMode = Field(DeliveryMode.EXACTLY_ONCE)
    transactional_id_prefix: str = Field("streaminfer", min_length=1,
                                         description="transactional.id = <prefix>-<pipeline>-<instance>: stable per worker.")
    commit_interval_ms: int = Field(100, ge=10, le=60_000, description="How often a transaction commits.")
    transaction_timeout_ms: int = Field(60_000, ge=1_000, le=900_000)
    consume_batch: int = Field(2000, ge=1, le=100_000, description="Max messages per consume() call.")
    session_timeout_ms: int = Field(10_000, ge=1_000)
    max_poll_interval_ms: int = Field(300_000, ge=10_000)
    security_protocol: str = Field("PLAINTEXT", pattern="^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$")
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    extra: dict[str, str | int | bool] = Field(default_factory=dict,
                                               description="Extra librdkafka properties passed to both clients.")

    @model_validator(mode="after")
    def _timeouts_consistent(self) -> "KafkaSettings":
        if self.commit_interval_ms * 10 > self.transaction_timeout_ms:
            raise ValueError("commit_interval_ms must be well below transaction_timeout_ms (≤ 1/10)")
        return self

    def client_security(self) -> dict[str, Any]:
        """librdkafka security properties shared by consumer and producer."""
        props: dict[str, Any] = {"security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            props["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            props["sasl.username"] = self.sasl_username
        if self.sasl_password:
            props["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location:
            props["ssl.ca.location"] = self.ssl_ca_location
        props.update(self.extra)
        return props


class TopicsSettings(_Section):
    """The pipeline's topics."""

    input: str = Field("fraud.transactions", min_length=1)
    input_schema: str = Field("", description="Catalog topic whose JSON Schema validates input "
                              "('' = the plugin's input_schema).")
    output: str = Field("fraud.scores", min_length=1)
    dead_letter: str = Field("fraud.dlq", min_length=1)
    alerts: str = Field("alerts", min_length=1)


class BatchingSettings(_Section):
    """Micro-batching: a batch goes to Triton at max_rows or after max_delay_ms, whichever first."""

    max_rows: int = Field(1024, ge=1, le=65_536)
    max_delay_ms: float = Field(5.0, ge=0.0, le=10_000.0)
    max_in_flight: int = Field(4, ge=1, le=64, description="Batches in flight to Triton at once (≥ 2 pipelines).")


class TritonSettings(_Section):
    """The model server and how to survive it failing."""

    url: str = Field("127.0.0.1:8001", description="gRPC host:port.")
    http_url: str = Field("127.0.0.1:8000", description="HTTP host:port, for /v2/health/ready probes.")
    model_name: str = Field("fraud", min_length=1)
    model_version: str = Field("", description="'' = the newest loaded version.")
    request_timeout_s: float = Field(5.0, gt=0, le=300)
    retry_initial_backoff_s: float = Field(0.05, gt=0)
    retry_max_backoff_s: float = Field(2.0, gt=0)
    breaker_failure_threshold: int = Field(3, ge=1, description="Consecutive failures that open the breaker.")
    breaker_probe_interval_s: float = Field(0.5, gt=0, description="How often an open breaker asks /v2/health/ready.")


class LimitsSettings(_Section):
    """Input boundary limits."""

    max_message_bytes: int = Field(1_048_576, ge=64, le=64 * 1_048_576)
    max_json_depth: int = Field(32, ge=1, le=512)


class AlertSettings(_Section):
    """Alerts the hot path raises itself (slo_breach, error_rate, inference_down) to ``topics.alerts``."""

    enabled: bool = True
    window_s: float = Field(30.0, ge=1.0, le=3600.0, description="Evaluation window for SLO and error rate.")
    slo_p99_ms: float = Field(250.0, gt=0, description="p99 end-to-end latency above this over a window pages.")
    max_dead_letter_ratio: float = Field(0.05, gt=0, le=1.0, description="Dead letters / consumed above this pages.")
    min_events: int = Field(500, ge=1, description="Windows with fewer events are not judged (too noisy).")
    cooldown_s: float = Field(600.0, ge=0.0, description="Same alert at most once per cooldown (count grows).")


class RolloutSettings(_Section):
    """Model rollouts: where the plan lives, how a candidate is called, what a guarded step must show."""

    plan_topic: str = Field("", description="Compacted topic of the plan and step reports ('' = <name>.rollout).")
    mirror_topic: str = Field("", description="Where candidate outputs of mirrored events go ('' = <name>.mirror).")
    audit_topic: str = Field("rollouts", min_length=1, description="Audit trail of every rollout decision.")
    candidate_timeout_s: float = Field(1.0, gt=0, le=300, description="Request timeout of a candidate: a slow "
                                       "candidate falls back to the champion instead of holding its batch.")
    candidate_failures_to_bench: int = Field(3, ge=1, le=1000, description="Consecutive candidate failures "
                                             "after which this worker serves its keys from the champion.")
    candidate_bench_s: float = Field(10.0, gt=0, le=3600, description="How long a benched candidate waits "
                                     "before it gets traffic again.")
    report_interval_s: float = Field(2.0, gt=0, le=600, description="How often a worker publishes its step counts.")
    guard_interval_s: float = Field(1.0, gt=0, le=600, description="How often the worker owning input "
                                    "partition 0 judges a guarded rollout's step.")
    plan_wait_s: float = Field(15.0, ge=0, le=600, description="How long a starting worker waits to read the plan.")
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)

    def plan_topic_for(self, pipeline: str) -> str:
        """The plan topic of ``pipeline``."""
        return self.plan_topic or f"{pipeline}.rollout"

    def mirror_topic_for(self, pipeline: str) -> str:
        """The mirror topic of ``pipeline``."""
        return self.mirror_topic or f"{pipeline}.mirror"


class MetricsSettings(_Section):
    """Prometheus endpoint."""

    port: int = Field(9464, ge=0, le=65535, description="0 disables the HTTP endpoint.")
    host: str = "127.0.0.1"


class PipelineSettings(BaseSettings):
    """One named pipeline: its plugin, topics, model, batching, delivery, limits, metrics."""

    model_config = SettingsConfigDict(env_prefix="STREAMINFER_", env_nested_delimiter="__",
                                      extra="forbid", frozen=True)

    name: str = Field("fraud", pattern=r"^[a-z][a-z0-9_-]*$")
    plugin: str = Field("models.fraud.pipeline:FraudPipeline",
                        description="module:Class of the use case's PipelinePlugin (engine/pipeline/contract.py).")
    plugin_options: dict[str, Any] = Field(default_factory=dict,
                                           description="Validated by the plugin's own Options model.")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicsSettings = Field(default_factory=TopicsSettings)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    triton: TritonSettings = Field(default_factory=TritonSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    shutdown_timeout_s: float = Field(30.0, ge=0.0, le=600.0,
                                      description="On SIGTERM, how long to wait for in-flight batches before committing what is done.")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        # CLI flags (init kwargs) beat the environment, which beats the YAML file, which beats defaults.
        return init_settings, env_settings, YamlSource(settings_cls)


def resolve_pipeline_path(name_or_path: str) -> Path:
    """A shipped pipeline name (``fraud``) or a path to a YAML file → the file's path."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"pipeline file not found: {candidate}")
        return candidate
    shipped = PIPELINES_DIR / f"{name_or_path}.yaml"
    if not shipped.is_file():
        known = sorted(p.stem for p in PIPELINES_DIR.glob("*.yaml") if not p.stem.endswith(".learn"))
        raise ConfigError(f"unknown pipeline {name_or_path!r}; shipped pipelines: {', '.join(known) or 'none'}")
    return shipped


def load_pipeline(name_or_path: str, **overrides: Any) -> PipelineSettings:
    """Load and validate a pipeline; raise ``ConfigError`` with every problem on one line."""
    path = resolve_pipeline_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return build_settings(PipelineSettings, data, overrides, f"{path}: invalid pipeline config:")
