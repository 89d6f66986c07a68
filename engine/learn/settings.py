"""Typed settings of ``streaminfer learn``: ``compose/pipelines/<pipeline>.learn.yaml`` plus environment.

Precedence (highest first): keyword overrides (CLI flags), environment variables
``STREAMINFER_LEARN__<FIELD>`` / ``STREAMINFER_LEARN__<SECTION>__<FIELD>`` (for example
``STREAMINFER_LEARN__SAMPLING__JOIN_RATE=0.5``; the HMAC key is ``STREAMINFER_LEARN__STATE_KEY``),
the YAML file, then the defaults below. Kafka bootstrap and the input/output/alerts topics come
from the pipeline's own settings (``engine.config.pipeline``), so both processes always agree on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from engine.config.yaml_source import YamlSource, build_settings
from engine.errors import ConfigError
from engine.paths import PIPELINES_DIR, default_cache_dir

Direction = Literal["both", "increase", "decrease"]
ScalarParam = float | int | bool | str


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorSpec(_Section):
    """One River drift detector: class name in ``engine.learn.detectors.DETECTORS`` and its parameters."""

    kind: str = Field(..., description="ADWIN, PageHinkley, KSWIN, DDM, EDDM, HDDM_A, HDDM_W or FHDDM.")
    params: dict[str, ScalarParam] = Field(default_factory=dict, description="Constructor arguments.")
    direction: Direction = Field("both", description="Which changes alert: a falling error rate is good news.")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from engine.learn.detectors import DETECTORS

        if kind not in DETECTORS:
            raise ValueError(f"unknown detector {kind!r}; known: {', '.join(sorted(DETECTORS))}")
        return kind


class LearnerSpec(_Section):
    """One shadow model: a River pipeline built by ``engine.learn.learners.LEARNERS[kind]``."""

    name: str = Field(..., pattern=r"^[a-z][a-z0-9_.-]{0,63}$", description="Challenger name on the shadow topic.")
    kind: str = Field(..., description="logistic_regression, hoeffding_adaptive_tree, adaptive_random_forest...")
    params: dict[str, ScalarParam] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from engine.learn.learners import LEARNERS

        if kind not in LEARNERS:
            raise ValueError(f"unknown learner {kind!r}; known: {', '.join(sorted(LEARNERS))}")
        return kind


class LearnTopics(_Section):
    """Topics only the learner uses (the others come from the pipeline settings)."""

    labels: str = Field("", description="Delayed ground truth, keyed like the outputs; '' = the plugin's "
                                        "labels topic (PipelinePlugin.labels).")
    shadow: str = Field("", description="Champion and challenger records; '' = <pipeline>.shadow.")
    state: str = Field("", description="Compacted topic of sealed learner state; '' = <app_id>-state.")


class SamplingSettings(_Section):
    """Deterministic samples by record key (the entity: a card, a user), decided before any decoding."""

    feature_rate: float = Field(0.1, gt=0.0, le=1.0, description="Share of keys whose input events feed feature drift.")
    join_rate: float = Field(0.1, gt=0.0, le=1.0,
                             description="Share of keys whose outputs, labels and inputs enter the join table.")
    salt: str = Field("streaminfer", description="Changing it draws a different sample.")


class JoinSettings(_Section):
    """The score ⋈ label table."""

    ttl_s: float = Field(600.0, gt=0, description="An unmatched half expires (and is counted) after this long.")
    max_pending: int = Field(200_000, ge=100, description="Oldest entries expire early beyond this many.")
    sweep_interval_s: float = Field(5.0, gt=0, le=3600)


class FeatureDriftSettings(_Section):
    """Per-feature detectors over the sampled input events."""

    enabled: bool = True
    detector: DetectorSpec = Field(default_factory=lambda: DetectorSpec(kind="ADWIN", params={"delta": 1e-5}))
    # Seasonal features change every hour by design; a stationary detector would page all day.
    ignore: tuple[str, ...] = Field(("hour_sin", "hour_cos", "is_night", "is_weekend"))


class PredictionDriftSettings(_Section):
    """A detector over the champion's score stream."""

    enabled: bool = True
    detector: DetectorSpec = Field(default_factory=lambda: DetectorSpec(kind="ADWIN", params={"delta": 1e-7}))


class ConceptDriftSettings(_Section):
    """Detectors over the champion's errors once labels arrive."""

    enabled: bool = True
    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="Score at or above which the champion says positive.")
    # Chosen with `drift-eval` on held-out seeds 31-38 (full-size streams): ADWIN δ=3e-4 caught 48/48 abrupt
    # drifts at 0.08 false alarms/100k; HDDM_A caught 39/48 (its cumulative mean hides short error bursts
    # after 25k quiet events) and DDM raised ~20 false alarms/100k on the fraud champion's ~1 % errors.
    error_detector: DetectorSpec = Field(
        default_factory=lambda: DetectorSpec(kind="ADWIN", params={"delta": 3e-4}, direction="increase"))
    loss_detector: DetectorSpec = Field(
        default_factory=lambda: DetectorSpec(kind="ADWIN", params={"delta": 1e-4}, direction="increase"))
    # A finding is a `warning` at once; it pages (`critical`) only if the signal stays up. Measured on the
    # fraud champion: after undrifted firings the next 5,000 labels ran at 0.73-1.40x the earlier mean,
    # after an injected drift at 2.1-2.5x (engine/learn/confirm.py).
    confirm_labels: int = Field(5000, ge=0, description="Labels after a change before it is judged; 0 = every "
                                                        "finding pages at once.")
    confirm_ratio: float = Field(1.6, gt=1.0, description="Mean after / mean before that confirms a change.")


class ShadowSettings(_Section):
    """Challengers learned online from joined labels, compared with the champion on the same events."""

    enabled: bool = True
    models: tuple[LearnerSpec, ...] = Field(default_factory=lambda: (
        LearnerSpec(name="river_logreg", kind="logistic_regression"),
        LearnerSpec(name="river_hat", kind="hoeffding_adaptive_tree", params={"seed": 7}),
    ))
    window: int = Field(5000, ge=100, description="Labels in the rolling metric windows.")
    time_windows_s: tuple[float, ...] = Field(
        (300.0, 3600.0), max_length=4,
        description="Also report every model's metrics over the labels that arrived in the last S seconds.")
    compare_every: int = Field(1000, ge=1, description="Labels between two champion/challenger comparisons.")
    min_labels: int = Field(2000, ge=10, description="No verdict before this many paired labels in the window.")
    min_positives: int = Field(20, ge=1, description="...nor before this many positives (AUC needs both classes).")
    metric: Literal["roc_auc", "log_loss"] = "roc_auc"
    margin: float = Field(0.02, ge=0.0, description="How much better a challenger must be to win.")
    publish_records: bool = Field(True, description="Publish champion and challenger scores to the shadow topic.")

    @field_validator("time_windows_s")
    @classmethod
    def _sane_time_windows(cls, spans: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 1.0 <= span <= 7 * 86_400 for span in spans):
            raise ValueError("each time window must be between 1 s and 7 days")
        if len(set(spans)) != len(spans):
            raise ValueError("time windows must differ")
        return spans


class AlertSettings(_Section):
    """Deduplication and cooldown of alerts."""

    cooldown_s: float = Field(1800.0, ge=0.0, description="One page per dedup key per cooldown.")
    clock: Literal["wall", "event_time"] = Field(
        "wall", description="Cooldown clock: wall time, or the event time of the record that tripped the detector.")
    # prediction_drift is `info`: on the fraud champion it fires ~3.8 times per 100k undrifted scores (fraud
    # episodes move the mean score) and as often before the generator's drift as after it, so it cannot
    # tell on-call anything a `warning` would (`python -m models.fraud.learning.concept_probe`, "score findings").
    severity: dict[str, Literal["info", "warning", "critical"]] = Field(default_factory=lambda: {
        "feature_drift": "warning", "prediction_drift": "info", "concept_drift": "critical",
        "challenger_wins": "info", "state_integrity": "critical",
    })


class StateSettings(_Section):
    """Checkpoints of detectors and learners."""

    enabled: bool = True
    checkpoint_interval_s: float = Field(10.0, gt=0, description="Learning after the last checkpoint is lost on kill -9.")
    key_file: Path | None = Field(None, description="Key used when STREAMINFER_LEARN__STATE_KEY is unset; created "
                                                    "on first use (0600). None = <cache>/learn-state-<app_id>.key.")
    max_blob_bytes: int = Field(8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)


class StreamSettings(_Section):
    """How the learner consumes (its readers) and how its faust app runs."""

    batch_max: int = Field(1000, ge=1, le=100_000, description="A reader polls up to 5x this many records at once.")
    batch_within_s: float = Field(0.25, gt=0, le=30)
    start_from: Literal["earliest", "latest"] = Field("latest", description="Where a brand-new group starts.")
    session_timeout_s: float = Field(10.0, ge=1.0, le=300.0)
    commit_interval_s: float = Field(1.0, gt=0, le=60)
    instance: str = Field("0", min_length=1, description="Static group member id suffix: a restarted worker "
                                                         "takes its partitions back at once.")
    replication_factor: int = Field(1, ge=1, le=5, description="Of the changelog and state topics it creates.")


class LearnMetricsSettings(_Section):
    """Prometheus endpoint of the learner."""

    host: str = "127.0.0.1"
    port: int = Field(9465, ge=0, le=65535, description="0 disables the HTTP endpoint.")
    lag_interval_s: float = Field(5.0, gt=0)


class BaseLearnSettings(BaseSettings):
    """The sections every learner has, whatever its task: topics, samples, join, alerts, state, stream, metrics."""

    model_config = SettingsConfigDict(env_prefix="STREAMINFER_LEARN__", env_nested_delimiter="__",
                                      extra="forbid", frozen=True)

    app_id: str = Field("", pattern=r"^[A-Za-z0-9._-]{0,200}$",
                        description="faust app id = consumer group = prefix of its internal topics; "
                                    "'' = streaminfer-learn-<pipeline>.")
    state_key: SecretStr | None = Field(None, description="HMAC-SHA256 key of persisted state (≥ 16 bytes).")
    topics: LearnTopics = Field(default_factory=LearnTopics)
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    join: JoinSettings = Field(default_factory=JoinSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    metrics: LearnMetricsSettings = Field(default_factory=LearnMetricsSettings)

    @field_validator("state_key")
    @classmethod
    def _key_long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value().encode()) < 16:
            raise ValueError("must be at least 16 bytes")
        return key

    @property
    def state_topic(self) -> str:
        """The compacted topic holding sealed checkpoints."""
        return self.topics.state or f"{self.app_id}-state"

    def state_key_file(self) -> Path:
        """Where the generated key lives when no key is configured."""
        return self.state.key_file or default_cache_dir() / f"learn-state-{self.app_id}.key"

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, YamlSource(settings_cls)


class LearnSettings(BaseLearnSettings):
    """Settings of the per-event learner (a score per event, a 0/1 label per event, features per event)."""

    feature_drift: FeatureDriftSettings = Field(default_factory=FeatureDriftSettings)
    prediction_drift: PredictionDriftSettings = Field(default_factory=PredictionDriftSettings)
    concept_drift: ConceptDriftSettings = Field(default_factory=ConceptDriftSettings)
    shadow: ShadowSettings = Field(default_factory=ShadowSettings)


def learn_config_path(pipeline: str) -> Path | None:
    """``<pipeline>.learn.yaml`` next to a pipeline file, or the shipped one for a pipeline name."""
    candidate = Path(pipeline)
    if candidate.suffix in {".yaml", ".yml"}:
        sibling = candidate.with_name(f"{candidate.stem}.learn.yaml")
        return sibling if sibling.is_file() else None
    shipped = PIPELINES_DIR / f"{pipeline}.learn.yaml"
    return shipped if shipped.is_file() else None


def load_learn_settings(pipeline: str, path: str | Path | None = None, settings_cls: type[Any] | None = None,
                        **overrides: Any) -> Any:
    """Load and validate the learner's settings; every problem is one ``ConfigError`` line.

    Args:
        pipeline: Shipped pipeline name or pipeline YAML path (locates ``<name>.learn.yaml``).
        path: Explicit learn YAML file, instead of the one next to the pipeline.
        settings_cls: The settings class; by default the one the pipeline plugin's learning side names
            (:class:`LearnSettings` for a per-event learner, ``RankingLearnSettings`` for a ranking one).
        **overrides: Dotted field names (``"sampling.join_rate"``) → values; ``None`` values are ignored.
    """
    if settings_cls is None:
        settings_cls = learning_settings_class(pipeline)
    file = Path(path) if path else learn_config_path(pipeline)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{file}: cannot read learn settings: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: top level must be a mapping")
    settings = build_settings(settings_cls, data, overrides, f"{file or 'learn settings'}: invalid:")
    return with_pipeline_defaults(settings, pipeline)


def with_pipeline_defaults(settings: BaseLearnSettings, pipeline: str) -> BaseLearnSettings:
    """Fill what was left empty from the pipeline: app id, labels topic (the plugin's), shadow topic."""
    if settings.app_id and settings.topics.labels and settings.topics.shadow:
        return settings
    from engine.config.pipeline import load_pipeline
    from engine.pipeline.loader import load_plugin

    try:
        pipeline_settings = load_pipeline(pipeline)
    except ConfigError:
        return settings  # a bare learn file checked on its own (tests, tools)
    name = pipeline_settings.name
    labels = getattr(load_plugin(pipeline_settings.plugin, pipeline_settings.plugin_options), "labels", None)
    topics = settings.topics.model_copy(update={
        "labels": settings.topics.labels or (labels.topic if labels is not None else f"{name}.labels"),
        "shadow": settings.topics.shadow or f"{name}.shadow"})
    return settings.model_copy(update={"app_id": settings.app_id or f"streaminfer-learn-{name}", "topics": topics})


def learning_settings_class(pipeline: str) -> type[BaseLearnSettings]:
    """The settings class of ``pipeline``'s learning side (:class:`LearnSettings` when it names none)."""
    from engine.config.pipeline import load_pipeline
    from engine.pipeline.loader import load_plugin

    try:
        settings = load_pipeline(pipeline)
    except ConfigError:
        return LearnSettings  # a bare learn file checked on its own (tests, tools)
    learning = getattr(load_plugin(settings.plugin, settings.plugin_options), "learning", None)
    return getattr(learning, "settings_class", LearnSettings)
