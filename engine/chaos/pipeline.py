"""The private pipeline YAML of a chaos run: the pipeline under test (``--pipeline``, default the
shipped fraud one) pointed at the run's own topics, consumer group and transactional ids, on the stack
the environment names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from engine.chaos.topics import ChaosTopicSet
from engine.config.pipeline import load_pipeline
from engine.paths import PIPELINES_DIR
from engine.stack.settings import StackSettings

#: The broker's group.min.session.timeout.ms: the shortest session it accepts. Short, so a stalled
#: worker (the zombie fault) is evicted in seconds rather than the default 10 s.
SESSION_TIMEOUT_MS = 6000

#: Environment overrides that beat the YAML and would point the workers away from the run's private
#: topics, group, transactional ids or stack; chaos refuses to start with them set.
_REDIRECTING = ("STREAMINFER_KAFKA__BOOTSTRAP_SERVERS", "STREAMINFER_KAFKA__GROUP_ID",
                "STREAMINFER_KAFKA__TRANSACTIONAL_ID_PREFIX", "STREAMINFER_KAFKA__DELIVERY",
                "STREAMINFER_KAFKA__SESSION_TIMEOUT_MS", "STREAMINFER_TRITON__URL", "STREAMINFER_TRITON__HTTP_URL",
                "STREAMINFER_METRICS__PORT")


def redirecting_overrides(environ: Mapping[str, str]) -> list[str]:
    """Names of set environment variables that would override the private pipeline's wiring."""
    return sorted(name for name in environ
                  if name in _REDIRECTING or name.startswith("STREAMINFER_TOPICS__"))


def write_chaos_pipeline(path: Path, run_id: str, topics: ChaosTopicSet, stack: StackSettings,
                         base: Path = PIPELINES_DIR / "fraud.yaml", input_schema: str = "fraud.transactions") -> Path:
    """Write the run's pipeline YAML to ``path`` (validated by loading it back); returns ``path``.

    Args:
        path: Where to write it (the run directory).
        run_id: Unique part of the group id and the transactional id prefix.
        topics: The run's private topics.
        stack: The stack whose Kafka and Triton the workers use.
        base: The pipeline it is derived from (plugin, options, batching, model: kept as they are).
        input_schema: What validates the input, named explicitly: the private input topic is in no
            catalog (:attr:`engine.chaos.target.ChaosTarget.input_schema`).
    """
    config = yaml.safe_load(base.read_text()) or {}
    config.setdefault("kafka", {}).update({
        "bootstrap_servers": stack.kafka_bootstrap,
        "group_id": f"chaos-{run_id}",
        # A new prefix per run: instance 0 of this run must fence only this run's zombies.
        "transactional_id_prefix": f"chaos-{run_id}",
        "delivery": "exactly-once",
        "session_timeout_ms": SESSION_TIMEOUT_MS,
    })
    config["topics"] = {"input": topics.input, "input_schema": input_schema, "output": topics.output,
                        "dead_letter": topics.dead_letter, "alerts": topics.alerts}
    config.setdefault("triton", {}).update({"url": stack.triton_grpc_url, "http_url": stack.triton_http_url})
    config["metrics"] = {"port": 0}  # several workers on one host: no port to collide on
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# streaminfer chaos run {run_id}: derived from {base.name}\n"
                    + yaml.safe_dump(config, sort_keys=False))
    load_pipeline(str(path))  # a bad value fails here, once, not in every worker's log
    return path
