"""The engine itself: ``streaminfer serve`` as a subprocess, exactly-once or at-least-once, N workers."""

from __future__ import annotations

import os
import sys

from engine.bench.contenders.base import Contender, RunSpec
from engine.config.pipeline import TopicsSettings
from engine.errors import ConfigError


class EngineContender(Contender):
    """``streaminfer serve --pipeline <spec.pipeline>`` pointed at the run's topics through environment
    overrides; batching, model and plugin options come from that pipeline's YAML.

    Args:
        exactly_once: Kafka transactions (``engine_eos``) or at-least-once (``engine_alo``).
        workers: ``serve --workers N`` (rows named ``engine_eos_wN``).
    """

    def __init__(self, exactly_once: bool, workers: int = 1) -> None:
        self.exactly_once = exactly_once
        self.transactional = exactly_once
        self.workers = workers
        base = "engine_eos" if exactly_once else "engine_alo"
        self.name = base if workers == 1 else f"{base}_w{workers}"
        if "input_schema" not in TopicsSettings.model_fields:
            # Bench topics are fresh (bench.<run>.<row>.in), so the engine must be told which catalog
            # schema validates them; without that setting it would refuse to start.
            raise ConfigError("the engine has no topics.input_schema setting: it cannot validate "
                              "benchmark topics against the pipeline's input schema")

    def command(self, spec: RunSpec) -> list[str]:
        """``python -m engine.cli.main serve ...`` (what the ``streaminfer`` script runs)."""
        return [sys.executable, "-m", "engine.cli.main", "serve", "--pipeline", spec.pipeline,
                "--delivery", "exactly-once" if spec.exactly_once else "at-least-once",
                "--workers", str(spec.workers), "--metrics-port", "0", "--log-level", "WARNING"]

    def env(self, spec: RunSpec) -> dict[str, str]:
        """The user's environment plus the run's servers, topics, group and transactional ids."""
        return {
            **os.environ,
            "STREAMINFER_KAFKA__BOOTSTRAP_SERVERS": spec.bootstrap,
            "STREAMINFER_KAFKA__GROUP_ID": spec.group_id,
            "STREAMINFER_KAFKA__TRANSACTIONAL_ID_PREFIX": spec.transactional_id,
            "STREAMINFER_TOPICS__INPUT": spec.input_topic,
            # Bench topics have run-unique names: the schema is the one serve would pick for the pipeline.
            "STREAMINFER_TOPICS__INPUT_SCHEMA": spec.resolved_input_schema(),
            "STREAMINFER_TOPICS__OUTPUT": spec.output_topic,
            "STREAMINFER_TOPICS__DEAD_LETTER": spec.dead_letter_topic,
            "STREAMINFER_TRITON__URL": spec.triton_url,
            "STREAMINFER_TRITON__HTTP_URL": spec.triton_http_url,
            "STREAMINFER_METRICS__PORT": "0",
        }

    def settings_note(self) -> str:
        """Delivery mode and worker count."""
        mode = "exactly-once (transactions)" if self.exactly_once else "at-least-once (idempotent)"
        return f"streaminfer serve, {mode}, {self.workers} worker(s)"
