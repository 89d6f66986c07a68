"""Helpers for hot-path integration tests: a private pipeline (own topics, group, transactional ids),
serve workers as real subprocesses (``engine.chaos.faults.ServeProcess``), producers of good input,
committed-output watchers and the delivery invariant (``engine.chaos``)."""

from __future__ import annotations

import socket
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import yaml
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from engine.chaos.faults import ServeProcess
from engine.chaos.invariant import InvariantReport, check_invariant
from engine.chaos.watch import CommittedRecord, CommittedTopicWatcher, input_positions, read_committed
from tests.integration.use_cases import FRAUD, UseCase

Output = CommittedRecord  # what the readers return: topic, partition, offset, key, value, headers


def free_port() -> int:
    """A TCP port nobody listens on right now (for a worker's /metrics)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    """``/metrics`` of a worker as {'name{label="v",...}': value} (labels sorted; pipeline dropped)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()) if k != "pipeline")
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


def metric(port: int, key: str, default: float = 0.0) -> float:
    """One value from a worker's ``/metrics``; ``default`` while the endpoint is not up yet."""
    try:
        return scrape(port).get(key, default)
    except OSError:  # URLError, connection refused or reset: the worker is still starting
        return default


@dataclass
class Watch:
    """Committed-output watchers on a pipeline's score and dead-letter topics, started before any worker."""

    scores: CommittedTopicWatcher
    dead: CommittedTopicWatcher

    def answered(self) -> int:
        """Scores plus dead letters committed so far."""
        return self.scores.count() + self.dead.count()

    def stop(self) -> None:
        """Stop both readers."""
        self.scores.stop()
        self.dead.stop()


@dataclass
class PrivatePipeline:
    """A pipeline config pointing at topics and ids no other test uses."""

    name: str
    config_path: Path
    input: str
    output: str
    dead_letter: str
    alerts: str
    bootstrap: str
    log_dir: Path
    use_case: UseCase = FRAUD
    plan_topic: str = ""
    mirror: str = ""
    audit: str = ""
    workers: list[ServeProcess] = field(default_factory=list)
    watches: list[Watch] = field(default_factory=list)

    # -- workers ----------------------------------------------------------------------------
    def start_worker(self, instance: str = "0", *extra: str, env: dict[str, str] | None = None,
                     metrics_port: int = 0) -> ServeProcess:
        """Start ``streaminfer serve`` for this pipeline as a subprocess (logs under log_dir)."""
        args = ["--pipeline", str(self.config_path), "--instance", instance, "--metrics-port", str(metrics_port),
                *extra]
        log = self.log_dir / f"worker-{instance}-{len(self.workers)}.log"
        self.workers.append(ServeProcess(args, log, env).start())
        return self.workers[-1]

    def kill9(self, worker: ServeProcess) -> None:
        """SIGKILL: no drain, no commit — what a crash looks like."""
        worker.kill9()

    def stop(self, worker: ServeProcess, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait: the worker drains, commits and exits 0."""
        return worker.terminate(timeout_s)

    def stop_all(self) -> None:
        """Stop every worker still running (test teardown), then the watchers."""
        for worker in self.workers:
            worker.ensure_stopped()
        for watch in self.watches:
            watch.stop()

    def logs(self) -> str:
        """Every worker log, for assertion messages."""
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("*.log")))

    # -- input ------------------------------------------------------------------------------
    def producer(self) -> Producer:
        """An idempotent producer to the broker."""
        return Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "linger.ms": 5})

    def produce_events(self, count: int, seed: int, rate: float = 0.0, chunk: int = 200) -> list[dict]:
        """Produce ``count`` valid events of the pipeline's use case, keyed by entity; returns them."""
        events, producer = self.use_case.events(count, seed), self.producer()
        started = time.monotonic()
        for start in range(0, len(events), chunk):
            for event in events[start:start + chunk]:
                producer.produce(self.input, orjson.dumps(event), self.use_case.key(event))
            producer.poll(0)
            if rate:
                ahead = (start + chunk) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        assert producer.flush(60) == 0, "input not acknowledged"
        return events

    # -- verification -----------------------------------------------------------------------
    def watch(self) -> Watch:
        """Start following the score and dead-letter topics (stopped at teardown)."""
        watch = Watch(CommittedTopicWatcher(self.bootstrap, self.output).start(),
                      CommittedTopicWatcher(self.bootstrap, self.dead_letter).start())
        self.watches.append(watch)
        return watch

    def read(self, topic: str, expected: int, timeout_s: float = 120.0, quiet_s: float = 3.0) -> list[Output]:
        """Read ``topic`` from the beginning with read_committed until ``expected`` records arrived and
        nothing more came for ``quiet_s`` (so duplicates would be seen), or the timeout passed."""
        return read_committed(self.bootstrap, topic, expected, timeout_s=timeout_s, quiet_s=quiet_s)

    def invariant(self, expected_inputs: int, scores: list[Output], dead: list[Output] = ()) -> InvariantReport:
        """Every committed input offset answered exactly once, in order (see ``engine.chaos.invariant``)."""
        inputs = input_positions(self.read(self.input, expected_inputs, timeout_s=60, quiet_s=0.5))
        assert len(inputs) == expected_inputs, f"{len(inputs)} input records on the topic, {expected_inputs} sent"
        return check_invariant(inputs, scores, dead, input_topic=self.input)

    def settle_and_check(self, watch: Watch, expected_inputs: int, timeout_s: float = 150.0) -> list[Output]:
        """After every worker has stopped: wait for quiet outputs, assert the full invariant; returns scores."""
        assert not any(w.running() for w in self.workers), "stop every worker before the final check"
        dead = watch.dead.settle(0, quiet_s=1.0, timeout_s=30)
        scores = watch.scores.settle(expected_inputs - len(dead), quiet_s=3.0, timeout_s=timeout_s)
        report = self.invariant(expected_inputs, scores, dead)
        assert report.ok, report.summary() + "\n" + self.logs()
        return scores


def assert_exactly_once_in_order(events: list[dict], scores: list[Output], id_field: str = "event_id") -> None:
    """Every event answered exactly once, and each input partition's outputs in input-offset order."""
    decoded = [orjson.loads(o.value) for o in scores]
    ids = [d[id_field] for d in decoded]
    duplicates = len(ids) - len(set(ids))
    missing = {e[id_field] for e in events} - set(ids)
    assert duplicates == 0, f"{duplicates} events scored more than once"
    assert not missing, f"{len(missing)} events never scored, e.g. {sorted(missing)[:3]}"
    last: dict[tuple[int, int], int] = {}
    for output, record in zip(scores, decoded):
        source = (output.partition, record["source"]["partition"])
        offset = record["source"]["offset"]
        assert offset > last.get(source, -1), f"out of order in partition {source}: {offset} after {last[source]}"
        last[source] = offset


def alerts_of(outputs: list[Output]) -> list[dict]:
    """Decoded alert records."""
    return [orjson.loads(o.value) for o in outputs]


def write_pipeline(tmp_path: Path, name: str, bootstrap: str, input_topic: str, output_topic: str,
                   dead_letter_topic: str, alerts_topic: str, stack, pipeline_name: str = "fraud", **sections) -> Path:
    """A pipeline YAML (the shipped fraud pipeline unless ``sections`` name another plugin) pointed at
    private topics and ids."""
    run = uuid.uuid4().hex[:8]
    config = {
        "name": pipeline_name,
        "kafka": {"bootstrap_servers": bootstrap, "group_id": f"test-{name}-{run}",
                  "transactional_id_prefix": f"test-{name}-{run}", "commit_interval_ms": 100},
        "topics": {"input": input_topic, "input_schema": "fraud.transactions", "output": output_topic,
                   "dead_letter": dead_letter_topic, "alerts": alerts_topic},
        "triton": {"url": stack.settings.triton_grpc_url, "http_url": stack.settings.triton_http_url},
        "metrics": {"port": 0},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
