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
from engine.errors import StackUnavailableError
from engine.inference.model_control import ModelControl
from engine.stack.health import triton_ready


class BenchRunner:
    """Orchestrates one benchmark run against ``target``.

    Args:
        options: What to run.
        target: Where to run it.
        say: Progress lines (the CLI prints them).
    """

    def __init__(self, options: BenchOptions, target: BenchTarget, say: Callable[[str], None] = print) -> None:
        self.options = options
        self.target = target
        self.say = say
        self.run_id = uuid.uuid4().hex[:8]
        self.log_dir = Path(options.work_dir) / self.run_id
        self.contenders = build_contenders(options.contenders, options.workers)

    def run(self) -> BenchReport:
        """Produce the dataset, run every contender, and return the figures.

        Raises:
            StackUnavailableError: If Kafka or Triton (with the model ready) is not reachable.
        """
        self._check_triton()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        topics = BenchTopics(self.target.bootstrap, self.options.partitions, self.run_id)
        servers = ServerCpu(_server_ports(self.target))
        facts = machine_facts(self.target)  # before the run: load average says how busy the box was
        results: list[ContenderResult] = []
        try:
            data = topics.create_set("dataset", roles=("in",))
            self.say(f"producing {self.options.events:,} events to {data.input} ...")
            dataset = Dataset.produce(self.target.bootstrap, data.input, self.options.events, self.options.seed,
                                      keep=self.options.paced_pool)
            self.say(f"dataset ready in {dataset.produce_seconds:.1f}s")
            for contender in self.contenders:
                results.append(self._run_one(contender, topics, data, dataset, servers))
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
            spec = self._spec(contender, data, "triton", rows=max(options.events, MIN_TRITON_ROWS))
            return run_standalone(contender, spec, options.saturated_cap_s, self.log_dir, self.say)
        saturated = topics.create_set(f"{contender.name}-sat", roles=("out", "dlq"))
        spec = self._spec(contender, TopicSet(data.input, saturated.output, saturated.dead_letter), "sat")
        cap = options.naive_cap_s if contender.time_capped else options.saturated_cap_s
        result = run_saturated(contender, spec, options.events, cap, self.log_dir, servers, self.say)
        if result.events_per_s and not result.error:
            paced_topics = topics.create_set(f"{contender.name}-paced")
            rate = result.events_per_s * options.paced_fraction
            run_paced(contender, self._spec(contender, paced_topics, "paced"), dataset.pool, rate,
                      options.paced_seconds, result, self.log_dir, self.say)
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
        )

    def _check_triton(self) -> None:
        url = self.target.triton_http_url
        if not triton_ready(url):
            raise StackUnavailableError(f"Triton is not ready at {url}; run `streaminfer stack up`")
        if not ModelControl(url).ready_versions(self.target.model_name):
            raise StackUnavailableError(f"model {self.target.model_name!r} is not loaded in Triton at {url}; "
                                        "run `streaminfer models build fraud`")

    def _settings(self, topics: BenchTopics) -> dict[str, object]:
        pipeline, options = self.target.pipeline, self.options
        return {
            "run_id": self.run_id, "events": options.events, "partitions": options.partitions,
            "paced_fraction": options.paced_fraction, "paced_seconds": options.paced_seconds,
            "saturated_cap_s": options.saturated_cap_s, "naive_cap_s": options.naive_cap_s,
            "seed": options.seed, "bootstrap": self.target.bootstrap, "triton_url": self.target.triton_url,
            "model": self.target.model_name, "batching": pipeline.batching.model_dump(),
            "commit_interval_ms": pipeline.kafka.commit_interval_ms, "consume_batch": pipeline.kafka.consume_batch,
            "input_compression": "none", "log_dir": str(self.log_dir),
            "latency": "p50/p95/p99_ms: output record timestamp − input record timestamp; visible_*: "
                       "read_committed receive time − input record timestamp; both at the paced rate",
            "throughput": "saturated run: output records / (last − first output record timestamp)",
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
