"""Runs the whole benchmark: one dataset, then each contender saturated and paced, one after another."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from engine.bench.contenders import Contender, RunSpec, build_contenders
from engine.bench.dataset import Dataset
from engine.bench.machine import machine_facts
from engine.bench.paced import run_paced
from engine.bench.process_stats import ServerCpu
from engine.bench.results import BenchReport, ContenderResult, check_targets, compute_ratios
from engine.bench.saturated import MIN_TRITON_ROWS, run_saturated, run_standalone
from engine.bench.settings import BenchOptions, BenchTarget
from engine.bench.topics import BenchTopics, TopicSet
from engine.bench.workload import Workload
from engine.errors import StackUnavailableError
from engine.inference.model_control import ModelControl
from engine.stack.health import triton_ready


class BenchRunner:
    """Orchestrates one benchmark run of ``target``'s pipeline against ``target``'s servers.

    Args:
        options: What to run.
        target: Where to run it, and which pipeline (its plugin makes the events and the records).
        say: Progress lines (the CLI prints them).

    Raises:
        ConfigError: If the pipeline's plugin cannot be loaded or cannot be benchmarked.
    """

    def __init__(self, options: BenchOptions, target: BenchTarget, say: Callable[[str], None] = print) -> None:
        self.options = options
        self.target = target
        self.say = say
        self.run_id = uuid.uuid4().hex[:8]
        self.log_dir = Path(options.work_dir) / self.run_id
        self.contenders = build_contenders(options.contenders, options.workers)
        self.workload = Workload.of(target.pipeline_ref or target.pipeline.name, target.pipeline)
        self.rows_per_event = 1.0

    def run(self) -> BenchReport:
        """Produce the dataset, run every contender, and return the figures.

        Raises:
            StackUnavailableError: If Kafka or Triton (with the model ready) is not reachable.
        """
        self._check_triton()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        workload = self.workload
        topics = BenchTopics(self.target.bootstrap, self.options.partitions, workload.role_topics, self.run_id)
        servers = ServerCpu(_server_ports(self.target))
        facts = machine_facts(self.target)  # before the run: load average says how busy the box was
        results: list[ContenderResult] = []
        try:
            data = topics.create_set("dataset", roles=("in",))
            self.say(f"producing {self.options.events:,} {workload.name} events to {data.input} ...")
            dataset = Dataset.produce(self.target.bootstrap, data.input, self.options.events, self.options.seed,
                                      keep=self.options.paced_pool, plugin=workload.plugin,
                                      id_field=workload.id_field)
            self.rows_per_event = dataset.rows_per_event
            self.say(f"dataset ready in {dataset.produce_seconds:.1f}s "
                     f"({dataset.rows:,} model rows, {dataset.rows_per_event:.2f} per event)")
            for contender in self.contenders:
                result = self._run_one(contender, topics, data, dataset, servers)
                if contender.infers and result.rows_per_s is None and result.events_per_s:
                    result.rows_per_s = round(result.events_per_s * dataset.rows_per_event, 1)
                results.append(result)
        finally:
            if not self.options.keep_topics:
                topics.delete_all()
        by_name = {row.name: row for row in results}
        ratios = compute_ratios(by_name)
        targets = check_targets(by_name, ratios, self.target.pipeline.kafka.commit_interval_ms)
        return BenchReport(results, ratios, targets, facts, self._settings(topics))

    def _run_one(self, contender: Contender, topics: BenchTopics, data: TopicSet, dataset: Dataset,
                 servers: ServerCpu) -> ContenderResult:
        options = self.options
        self.say(f"— {contender.name}: {contender.settings_note()}")
        if contender.standalone:
            # As many rows as the dataset encodes to (recs: ~50 per event), so the ceiling does the same work.
            spec = self._spec(contender, data, "triton", rows=max(dataset.rows, options.events, MIN_TRITON_ROWS))
            return run_standalone(contender, spec, options.saturated_cap_s, self.log_dir, self.say)
        saturated = topics.create_set(f"{contender.name}-sat", roles=("out", "dlq"))
        spec = self._spec(contender, TopicSet(data.input, saturated.output, saturated.dead_letter), "sat")
        cap = options.naive_cap_s if contender.time_capped else options.saturated_cap_s
        id_field = self.workload.id_field
        result = run_saturated(contender, spec, options.events, cap, self.log_dir, servers, self.say,
                               id_field=id_field)
        if result.events_per_s and not result.error:
            paced_topics = topics.create_set(f"{contender.name}-paced")
            rate = result.events_per_s * options.paced_fraction
            run_paced(contender, self._spec(contender, paced_topics, "paced"), dataset.pool, rate,
                      options.paced_seconds, result, self.log_dir, self.say, id_field=id_field)
        return result

    def _spec(self, contender: Contender, topics: TopicSet, phase: str, rows: int = 0) -> RunSpec:
        pipeline = self.target.pipeline
        unique = f"bench-{self.run_id}-{contender.name}-{phase}"
        return RunSpec(
            name=contender.name, bootstrap=self.target.bootstrap, input_topic=topics.input,
            output_topic=topics.output, dead_letter_topic=topics.dead_letter, group_id=unique,
            transactional_id=unique, triton_url=self.target.triton_url,
            triton_http_url=self.target.triton_http_url, model_name=self.target.model_name,
            max_rows=pipeline.batching.max_rows, max_delay_ms=pipeline.batching.max_delay_ms,
            max_in_flight=pipeline.batching.max_in_flight, consume_batch=pipeline.kafka.consume_batch,
            commit_interval_ms=pipeline.kafka.commit_interval_ms, exactly_once=contender.exactly_once,
            workers=contender.workers, rows=rows, seed=self.options.seed,
            result_path=str(self.log_dir / f"{contender.name}.json"),
            pipeline=self.workload.ref, input_schema=self.workload.input_schema,
        )

    def _check_triton(self) -> None:
        url = self.target.triton_http_url
        if not triton_ready(url):
            raise StackUnavailableError(f"Triton is not ready at {url}; run `streaminfer stack up`")
        if not ModelControl(url).ready_versions(self.target.model_name):
            raise StackUnavailableError(f"model {self.target.model_name!r} is not loaded in Triton at {url}; "
                                        f"run `streaminfer models build {self.target.pipeline.name}`")

    def _settings(self, topics: BenchTopics) -> dict[str, object]:
        pipeline, options = self.target.pipeline, self.options
        workload = self.workload
        return {
            "run_id": self.run_id, "pipeline": pipeline.name, "pipeline_ref": workload.ref,
            "plugin": pipeline.plugin, "input_schema": workload.input_schema,
            "topic_specs": workload.role_topics, "output_id_field": workload.id_field,
            "rows_per_event": round(self.rows_per_event, 4),
            "events": options.events, "partitions": options.partitions,
            "paced_fraction": options.paced_fraction, "paced_seconds": options.paced_seconds,
            "saturated_cap_s": options.saturated_cap_s, "naive_cap_s": options.naive_cap_s,
            "seed": options.seed, "bootstrap": self.target.bootstrap, "triton_url": self.target.triton_url,
            "model": self.target.model_name, "batching": pipeline.batching.model_dump(),
            "commit_interval_ms": pipeline.kafka.commit_interval_ms, "consume_batch": pipeline.kafka.consume_batch,
            "input_compression": "none", "log_dir": str(self.log_dir),
            "latency": "p50/p95/p99_ms: output record timestamp − input record timestamp; visible_*: "
                       "read_committed receive time − input record timestamp; both at the paced rate",
            "throughput": "saturated run: output records / (last − first output record timestamp)",
            "rows": "rows_per_s: model rows/s; triton_ceiling counts the rows it sent, contenders reading "
                    "Kafka get events_per_s x rows_per_event (the dataset's average), kafka_ceiling none",
            "matching": f"outputs are matched to inputs by their {workload.id_field!r} field",
            "cpu": "contender process tree (psutil), first output to done; servers' CPU separate",
        }


def _server_ports(target: BenchTarget) -> dict[str, int]:
    ports = {}
    for name, address in (("kafka", target.bootstrap.split(",")[0]), ("triton", target.triton_url)):
        try:
            ports[name] = int(address.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            continue
    return ports
