"""Helpers for hot-path integration tests: a private pipeline (own topics, group, transactional ids),
serve workers as real subprocesses, producers of good/bad input, and a read_committed verifier."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from models.fraud.generator import FraudGenerator


@dataclass
class Output:
    """One record read back from the score or dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)


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
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    # -- workers ----------------------------------------------------------------------------
    def start_worker(self, instance: str = "0", *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``streaminfer serve`` for this pipeline as a subprocess (logs under log_dir)."""
        log = (self.log_dir / f"worker-{instance}-{len(self.workers)}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli.main", "serve", "--pipeline", str(self.config_path),
             "--instance", instance, "--metrics-port", "0", *extra],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True,
        )
        self.workers[f"{instance}-{len(self.workers)}"] = proc
        return proc

    def kill9(self, proc: subprocess.Popen) -> None:
        """SIGKILL: no drain, no commit — what a crash looks like."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self, proc: subprocess.Popen, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait: the worker drains, commits and exits 0."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout_s)

    def stop_all(self) -> None:
        """Stop every worker still running (test teardown)."""
        for proc in self.workers.values():
            if proc.poll() is None:
                try:
                    self.stop(proc, timeout_s=40)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    def logs(self) -> str:
        """Every worker log, for assertion messages."""
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("*.log")))

    # -- input ------------------------------------------------------------------------------
    def producer(self) -> Producer:
        """An idempotent producer to the broker."""
        return Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "linger.ms": 5})

    def produce_events(self, count: int, seed: int, rate: float = 0.0, chunk: int = 200) -> list[dict]:
        """Produce ``count`` valid events keyed by card id; returns them."""
        generator, producer, events = FraudGenerator(seed=seed), self.producer(), []
        started = time.monotonic()
        while len(events) < count:
            batch, _ = generator.batch(min(chunk, count - len(events)))
            for event in batch:
                producer.produce(self.input, orjson.dumps(event), event["card_id"].encode())
            producer.poll(0)
            events.extend(batch)
            if rate:
                ahead = len(events) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush(30)
        return events

    # -- verification -----------------------------------------------------------------------
    def read(self, topic: str, expected: int, timeout_s: float = 120.0, quiet_s: float = 3.0) -> list[Output]:
        """Read ``topic`` from the beginning with read_committed until ``expected`` records arrived and
        nothing more came for ``quiet_s`` (so duplicates would be seen), or the timeout passed."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"verify-{uuid.uuid4().hex[:8]}",
                             "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                             "enable.auto.commit": False})
        try:
            metadata = consumer.list_topics(topic, timeout=10).topics[topic]
            consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])
            out: list[Output] = []
            deadline = time.monotonic() + timeout_s
            last_new = time.monotonic()
            while time.monotonic() < deadline:
                batch = consumer.consume(1000, timeout=0.3)
                for m in batch:
                    if m.error() is None:
                        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (m.headers() or [])}
                        out.append(Output(topic, m.partition(), m.offset(), m.key(), m.value(), headers))
                if batch:
                    last_new = time.monotonic()
                elif len(out) >= expected and time.monotonic() - last_new >= quiet_s:
                    break
            return out
        finally:
            consumer.close()


def assert_exactly_once_in_order(events: list[dict], scores: list[Output]) -> None:
    """Every event scored exactly once, and each input partition's scores in input-offset order."""
    decoded = [orjson.loads(o.value) for o in scores]
    ids = [d["event_id"] for d in decoded]
    duplicates = len(ids) - len(set(ids))
    missing = {e["event_id"] for e in events} - set(ids)
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
                   dead_letter_topic: str, alerts_topic: str, stack, **sections) -> Path:
    """A pipeline YAML for the shipped fraud pipeline pointed at private topics and ids."""
    run = uuid.uuid4().hex[:8]
    config = {
        "name": "fraud",
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
