"""Settings of the local real stack: where it lives, which versions, which ports.

Every field can be overridden by an environment variable named ``STREAMINFER_STACK_<FIELD>``
(for example ``STREAMINFER_STACK_KAFKA_PORT=19092``), which lets tests and several checkouts run
side by side on one machine.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.paths import REPO_ROOT, default_cache_dir


class StackSettings(BaseSettings):
    """Where and how ``streaminfer stack`` runs Kafka and Triton. Frozen once loaded."""

    model_config = SettingsConfigDict(env_prefix="STREAMINFER_STACK_", frozen=True, extra="forbid")

    home: Path = Field(REPO_ROOT / ".stack", description="State, logs and pid files (git-ignored).")
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Downloads shared between clones: Kafka jars, the Triton wheel. Env STREAMINFER_STACK_CACHE_DIR.",
    )
    host: str = Field("127.0.0.1", description="Every server binds here; loopback only by default.")

    kafka_version: str = Field("4.1.1", description="org.apache.kafka:kafka_2.13 version from Maven Central.")
    kafka_port: int = Field(9092, ge=1, le=65535, description="Kafka PLAINTEXT listener.")
    kafka_controller_port: int = Field(9093, ge=1, le=65535, description="KRaft controller listener.")
    kafka_heap_mb: int = Field(768, ge=256, le=1024, description="JVM heap (-Xms = -Xmx); the box has 2 cores.")

    pytriton_version: str = Field("0.7.0", description="nvidia-pytriton wheel that carries tritonserver.")
    triton_http_port: int = Field(8000, ge=1, le=65535)
    triton_grpc_port: int = Field(8001, ge=1, le=65535)
    triton_metrics_port: int = Field(8002, ge=1, le=65535)

    start_timeout_s: float = Field(120.0, gt=0, description="How long `up` waits for readiness.")
    stop_timeout_s: float = Field(20.0, gt=0, description="Grace period between SIGTERM and SIGKILL.")

    @model_validator(mode="after")
    def _ports_distinct(self) -> "StackSettings":
        ports = [self.kafka_port, self.kafka_controller_port, self.triton_http_port,
                 self.triton_grpc_port, self.triton_metrics_port]
        if len(set(ports)) != len(ports):
            raise ValueError(f"stack ports must be distinct, got {ports}")
        return self

    # Derived locations: one place decides the layout of .stack/ and the cache.
    @property
    def kafka_bootstrap(self) -> str:
        """``host:port`` clients use to reach the broker."""
        return f"{self.host}:{self.kafka_port}"

    @property
    def triton_grpc_url(self) -> str:
        """``host:port`` of Triton's gRPC endpoint."""
        return f"{self.host}:{self.triton_grpc_port}"

    @property
    def triton_http_url(self) -> str:
        """``host:port`` of Triton's HTTP endpoint."""
        return f"{self.host}:{self.triton_http_port}"

    @property
    def model_repository(self) -> Path:
        """The Triton model repository the stack serves (explicit model control)."""
        return self.home / "model_repository"

    @property
    def python_site_packages(self) -> Path:
        """site-packages of the interpreter running streaminfer: the Triton python stub imports torch from it."""
        return Path(sysconfig.get_paths()["purelib"])

    @property
    def python_libdir(self) -> Path:
        """Directory of this interpreter's libpython (must win over Debian's, see STACK.md)."""
        return Path(sysconfig.get_config_var("LIBDIR") or "/usr/lib")


def load_stack_settings(**overrides: object) -> StackSettings:
    """Load stack settings from the environment, with explicit overrides (from the CLI) on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return StackSettings(**clean)  # type: ignore[arg-type]


def running_under_ci() -> bool:
    """True when ``CI`` is set to a truthy value: missing stacks must then fail, not skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
