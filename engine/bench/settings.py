"""What a benchmark run does (options) and what it runs against (target stack and engine settings)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.config.pipeline import PipelineSettings, load_pipeline
from engine.stack.settings import load_stack_settings

#: Every contender, in the order they run and appear in the table.
ALL_CONTENDERS: tuple[str, ...] = ("kafka_ceiling", "triton_ceiling", "engine_eos", "engine_alo", "naive", "faust")

#: Environment variables of the pipeline settings that name where the servers are.
_BOOTSTRAP_ENV = "STREAMINFER_KAFKA__BOOTSTRAP_SERVERS"
_TRITON_GRPC_ENV = "STREAMINFER_TRITON__URL"
_TRITON_HTTP_ENV = "STREAMINFER_TRITON__HTTP_URL"


@dataclass(frozen=True)
class BenchOptions:
    """One benchmark run.

    Attributes:
        events: Events pre-produced for the saturated runs.
        partitions: Partitions of every input and output topic.
        contenders: Contender names to run, from :data:`ALL_CONTENDERS`.
        workers: Extra engine rows with N worker processes (exactly-once), e.g. (2,).
        paced_seconds: Length of each paced (50 % load) run.
        paced_fraction: Offered rate of the paced run as a share of the contender's saturated rate.
        saturated_cap_s: Time cap of one saturated run (a capped run extrapolates from what it did).
        naive_cap_s: Time cap of the naive contender's saturated run (it is ~100x slower).
        paced_pool: Most events kept in memory for paced runs (they are replayed from the dataset).
        seed: Generator seed: the same seed gives byte-identical events.
        keep_topics: Leave the benchmark topics on the broker (for inspection).
        work_dir: Where contender logs and the chart go.
    """

    events: int = 1_000_000
    partitions: int = 6
    contenders: tuple[str, ...] = ALL_CONTENDERS
    workers: tuple[int, ...] = ()
    paced_seconds: float = 20.0
    paced_fraction: float = 0.5
    saturated_cap_s: float = 300.0
    naive_cap_s: float = 30.0
    paced_pool: int = 400_000
    seed: int = 20_250_101
    keep_topics: bool = False
    work_dir: Path = Path("bench-results")

    @classmethod
    def quick(cls, **overrides: object) -> BenchOptions:
        """About 100k events and short paced runs: the whole run in a few minutes."""
        base = {"events": 100_000, "paced_seconds": 8.0, "saturated_cap_s": 120.0, "naive_cap_s": 10.0,
                "paced_pool": 150_000}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.contenders) - set(ALL_CONTENDERS))
        if unknown:
            raise ValueError(f"unknown contenders {unknown}; known: {', '.join(ALL_CONTENDERS)}")
        if self.events < 1 or self.partitions < 1:
            raise ValueError("events and partitions must be >= 1")
        if not 0.0 < self.paced_fraction <= 1.0:
            raise ValueError("paced_fraction must be in (0, 1]")
        if any(n < 1 for n in self.workers):
            raise ValueError("worker counts must be >= 1")


@dataclass(frozen=True)
class BenchTarget:
    """The servers and engine settings every contender shares.

    Attributes:
        bootstrap: Kafka ``host:port``.
        triton_url: Triton gRPC ``host:port``.
        triton_http_url: Triton HTTP ``host:port``.
        pipeline: The engine's pipeline settings (plugin, batching, commit interval, delivery...).
        stack_facts: Settings of the local stack worth recording (Kafka heap, versions).
        model_repository: The local stack's Triton model repository (for the instance count).
        pipeline_ref: The pipeline as ``--pipeline`` named it (shipped name or YAML path); '' = the
            shipped pipeline named like ``pipeline.name``.
    """

    bootstrap: str
    triton_url: str
    triton_http_url: str
    pipeline: PipelineSettings
    stack_facts: dict[str, object] = field(default_factory=dict)
    model_repository: Path | None = None
    pipeline_ref: str = ""

    @property
    def model_name(self) -> str:
        """Triton model every contender calls."""
        return self.pipeline.triton.model_name


def load_target(pipeline: str = "fraud") -> BenchTarget:
    """Where to benchmark: the pipeline's servers if set by environment, else the local stack's.

    The shipped pipeline YAML names the default ports; a stack started on other ports
    (``STREAMINFER_STACK_*``) is what ``streaminfer bench`` should measure unless the pipeline's own
    variables (``STREAMINFER_KAFKA__BOOTSTRAP_SERVERS``...) say otherwise.

    Args:
        pipeline: Shipped pipeline name or YAML path.

    Returns:
        The target.
    """
    settings = load_pipeline(pipeline)
    stack = load_stack_settings()
    env = os.environ
    return BenchTarget(
        bootstrap=env.get(_BOOTSTRAP_ENV) or stack.kafka_bootstrap,
        triton_url=env.get(_TRITON_GRPC_ENV) or stack.triton_grpc_url,
        triton_http_url=env.get(_TRITON_HTTP_ENV) or stack.triton_http_url,
        pipeline=settings,
        stack_facts={"kafka_version": stack.kafka_version, "kafka_heap_mb": stack.kafka_heap_mb,
                     "pytriton_version": stack.pytriton_version, "stack_home": str(stack.home)},
        model_repository=stack.model_repository,
        pipeline_ref=pipeline,
    )
