"""What a rollout costs the hot path: the engine saturated on one dataset, without a plan and under
shadow and canary plans, side by side in one run.

    .venv/bin/python -m engine.bench.rollout_cost --events 40000 [--pipeline fraud] [--json out.json]

Same broker, same dataset topic, same model bytes: the pipeline's model is copied into a private
Triton model (``<model>_rolloutbench``, two identical versions, removed afterwards) so that the
candidate costs exactly what the champion costs and the figures show the engine's own overhead:
the extra Triton request per batch of a mirror, the split and re-encoding of a canary, the step
reports. Every row reads the whole dataset from a fresh consumer group into fresh topics, exactly-once.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from confluent_kafka.admin import AdminClient, NewTopic

from engine.bench.contenders.base import RunSpec
from engine.bench.contenders.engine import EngineContender
from engine.bench.dataset import Dataset
from engine.bench.process_stats import ServerCpu
from engine.bench.runner import _server_ports
from engine.bench.saturated import run_saturated
from engine.bench.settings import load_target
from engine.bench.topics import BenchTopics
from engine.bench.workload import Workload
from engine.errors import ModelRepositoryError
from engine.inference.model_control import ModelControl
from engine.rollout.plan import RolloutMode, RolloutPlan, RolloutState, now_ms
from engine.rollout.store import PlanWriter
from engine.stack.settings import load_stack_settings

#: (row, plan mode, candidate weight %, mirror rate) — None mode: no plan at all.
ROWS = (("no_plan", None, 0.0, 0.0), ("shadow_100", RolloutMode.SHADOW, 0.0, 1.0),
        ("shadow_10", RolloutMode.SHADOW, 0.0, 0.1), ("canary_50", RolloutMode.CANARY, 50.0, 0.0))


@dataclass
class RolloutCostRow:
    """One row of the table."""

    name: str
    events_per_s: float | None
    complete: bool
    error: str = ""


class PlannedEngine(EngineContender):
    """The engine contender, served by the private model and following a private plan topic."""

    def __init__(self, name: str, model: str, plan_topic: str, mirror_topic: str, audit_topic: str) -> None:
        super().__init__(exactly_once=True)
        self.name = name
        self._extra = {"STREAMINFER_TRITON__MODEL_NAME": model, "STREAMINFER_TRITON__MODEL_VERSION": "1",
                       "STREAMINFER_ROLLOUT__PLAN_TOPIC": plan_topic, "STREAMINFER_ROLLOUT__MIRROR_TOPIC": mirror_topic,
                       "STREAMINFER_ROLLOUT__AUDIT_TOPIC": audit_topic}

    def env(self, spec: RunSpec) -> dict[str, str]:
        return {**super().env(spec), **self._extra}


def _private_model(repository: Path, source: str, http_url: str) -> str:
    """Copy the newest version of ``source`` twice into ``<source>_rolloutbench`` and load both."""
    versions = ModelControl.versions_on_disk(repository, source)
    if not versions:
        raise ModelRepositoryError(f"no version of {source!r} in {repository}: run `streaminfer models build`")
    name = f"{source}_rolloutbench"
    target = repository / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    config = (repository / source / "config.pbtxt").read_text().replace(f'name: "{source}"', f'name: "{name}"', 1)
    (target / "config.pbtxt").write_text(config.replace("version_policy: { all: {} }",
                                                        "version_policy: { specific: { versions: [1] } }"))
    for version in (1, 2):
        shutil.copytree(repository / source / str(versions[-1]), target / str(version),
                        ignore=shutil.ignore_patterns("__pycache__"))
    ModelControl(http_url).load_versions(name, ["1", "2"])
    return name


def run(events: int, pipeline: str, say=print) -> list[RolloutCostRow]:
    """Run every row of :data:`ROWS` on one dataset; returns the rows."""
    target = load_target(pipeline)
    stack = load_stack_settings()
    workload = Workload.of(target.pipeline_ref or target.pipeline.name, target.pipeline)
    settings = target.pipeline
    model = _private_model(stack.model_repository, settings.triton.model_name, target.triton_http_url)
    run_id = uuid.uuid4().hex[:8]
    topics = BenchTopics(target.bootstrap, 6, workload.role_topics, run_id)
    admin = AdminClient({"bootstrap.servers": target.bootstrap})
    servers = ServerCpu(_server_ports(target))
    log_dir = Path(".bench") / f"rollout-{run_id}"
    log_dir.mkdir(parents=True, exist_ok=True)
    rows: list[RolloutCostRow] = []
    try:
        data = topics.create_set("dataset", roles=("in",))
        say(f"producing {events:,} {pipeline} events once ...")
        Dataset.produce(target.bootstrap, data.input, events, 11, 0, workload.plugin, workload.id_field)
        for name, mode, weight, mirror_rate in ROWS:
            out = topics.create_set(name, roles=("out", "dlq"))
            extra = [f"bench.{run_id}.{name}.{role}" for role in ("rollout", "mirror", "rollouts")]
            futures = admin.create_topics([NewTopic(extra[0], 1, 1, config={"cleanup.policy": "compact"}),
                                           NewTopic(extra[1], 6, 1), NewTopic(extra[2], 1, 1)])
            for future in futures.values():
                future.result(timeout=30)
            topics.created.extend(extra)
            if mode is not None:
                plan = RolloutPlan(pipeline=settings.name, generation=0, plan_id=f"bench-{name}", champion="1",
                                   candidate="2", mode=mode, state=RolloutState.ACTIVE, weight=weight,
                                   mirror_rate=mirror_rate, started_ms=now_ms(), updated_ms=now_ms(),
                                   reason="rollout cost benchmark", actor="bench")
                PlanWriter(target.bootstrap, extra[0], extra[2]).write(plan)
            contender = PlannedEngine(name, model, *extra)
            spec = RunSpec(name=name, bootstrap=target.bootstrap, input_topic=data.input, output_topic=out.output,
                           dead_letter_topic=out.dead_letter, group_id=f"bench-{run_id}-{name}",
                           transactional_id=f"bench-{run_id}-{name}", triton_url=target.triton_url,
                           triton_http_url=target.triton_http_url, model_name=model,
                           max_rows=settings.batching.max_rows, max_delay_ms=settings.batching.max_delay_ms,
                           max_in_flight=settings.batching.max_in_flight, consume_batch=settings.kafka.consume_batch,
                           commit_interval_ms=settings.kafka.commit_interval_ms, exactly_once=True,
                           pipeline=target.pipeline_ref or settings.name)
            result = run_saturated(contender, spec, events, 300.0, log_dir, servers, say, id_field=workload.id_field)
            rows.append(RolloutCostRow(name, result.events_per_s, result.complete, result.error or ""))
    finally:
        topics.delete_all()
        try:
            ModelControl(target.triton_http_url).unload(model)
        except Exception:  # noqa: BLE001 — best effort: the private copy goes with its directory
            pass
        shutil.rmtree(stack.model_repository / model, ignore_errors=True)
    return rows


def render(rows: list[RolloutCostRow]) -> str:
    """The table: events/s per row and its ratio to the row without a plan."""
    base = rows[0].events_per_s if rows and rows[0].events_per_s else None
    lines = [f"{'row':<12} {'events/s':>10} {'vs no_plan':>10}  complete", "-" * 46]
    for row in rows:
        rate = f"{row.events_per_s:,.0f}" if row.events_per_s else "-"
        ratio = f"{row.events_per_s / base:.2f}" if base and row.events_per_s else "-"
        lines.append(f"{row.name:<12} {rate:>10} {ratio:>10}  {row.complete}{'  ' + row.error[:60] if row.error else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--pipeline", default="fraud")
    parser.add_argument("--json", default="", help="Also write the rows here.")
    args = parser.parse_args(argv)
    rows = run(args.events, args.pipeline)
    print(render(rows))
    if args.json:
        Path(args.json).write_bytes(orjson.dumps([row.__dict__ for row in rows], option=orjson.OPT_INDENT_2))
    return 0 if all(row.complete for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
