"""A Kafka broker hard kill mid-stream (SIGKILL of the JVM, then a restart on the same data): the serve
worker and the generator's producer both ride it out. The generator's idempotent producer neither
loses nor duplicates input; the worker answers every input offset exactly once, in order.

The broker here is a private one (own data dir and ports), so killing it cannot hurt other tests.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from engine.chaos.faults import hard_kill
from engine.codec.decode import EventDecoder
from engine.stack.health import kafka_ready
from engine.stack.kafka import KafkaServer
from engine.stack.settings import StackSettings
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from tests.integration.harness import PrivatePipeline, free_port, write_pipeline


@dataclass
class PrivateBroker:
    """A single-node Kafka of this test only."""

    settings: StackSettings
    server: KafkaServer

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    def start(self, timeout_s: float = 120.0) -> None:
        self.server.write_config()
        self.server.format_storage()
        self.server.start()
        deadline = time.monotonic() + timeout_s
        while not kafka_ready(self.bootstrap):
            assert self.server.process.pid() is not None, "private broker exited during start"
            assert time.monotonic() < deadline, "private broker not ready"
            time.sleep(0.25)

    def kill9(self) -> None:
        hard_kill(self.server.process)

    def create_topics(self, **partitions: int) -> dict[str, str]:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        run = uuid.uuid4().hex[:8]
        names = {role: f"test.brokerkill.{role}.{run}" for role in partitions}
        futures = admin.create_topics([NewTopic(names[r], n, 1) for r, n in partitions.items()])
        for future in futures.values():
            future.result(timeout=30)
        return names


@pytest.fixture()
def private_broker(tmp_path, stack_settings):
    settings = StackSettings(home=tmp_path / "private-stack", cache_dir=stack_settings.cache_dir,
                             kafka_port=free_port(), kafka_controller_port=free_port())
    broker = PrivateBroker(settings, KafkaServer(settings))
    broker.start()
    yield broker
    broker.server.process.stop(10)


def test_broker_hard_kill_mid_stream(private_broker, stack, fraud_model, tmp_path) -> None:
    count, malformed = 20_000, 50
    topics = private_broker.create_topics(input=3, scores=3, dlq=1, alerts=1)
    config = write_pipeline(tmp_path, "brokerkill", private_broker.bootstrap, topics["input"], topics["scores"],
                            topics["dlq"], topics["alerts"], stack, kafka={"session_timeout_ms": 6000})
    logs = tmp_path / "brokerkill-logs"
    logs.mkdir()
    p = PrivatePipeline("brokerkill", config, topics["input"], topics["scores"], topics["dlq"], topics["alerts"],
                        private_broker.bootstrap, logs)
    watch = p.watch()
    generator_log = logs / "generate.log"
    try:
        with generator_log.open("wb") as out:
            generator = subprocess.Popen(
                [sys.executable, "-m", "engine.cli.main", "generate", "fraud", "--count", str(count), "--rate",
                 "1500", "--malformed", str(malformed), "--no-labels", "--warmup", "0", "--seed", "61",
                 "--bootstrap", private_broker.bootstrap, "--topic", topics["input"]],
                stdout=out, stderr=subprocess.STDOUT)
        worker = p.start_worker("0")
        worker.wait_for_assignment()
        assert watch.scores.wait_for(300, timeout_s=60) >= 300, p.logs()

        private_broker.kill9()  # mid-transaction, mid-produce: no clean shutdown of anything
        killed_at = watch.answered()
        time.sleep(3.0)
        assert worker.running(), "the worker must survive a broker outage\n" + worker.log()[-3000:]
        assert generator.poll() is None, "the generator must wait for the broker, not give up"
        assert killed_at < count
        private_broker.start()

        assert generator.wait(timeout=180) == 0, generator_log.read_text()[-3000:]
        total = count + malformed
        # The worker rides the outage out, or — when librdkafka wedges inside a transactional call
        # after the broker restart (librdkafka #5456) — exits 4 within its deadline; an orchestrator
        # restarts it, as this loop does, and it resumes from the last commit.
        restarts = 0
        deadline = time.monotonic() + 240
        while watch.answered() < total and time.monotonic() < deadline:
            if not worker.running():
                assert worker.returncode == 4 and "the producer is wedged" in worker.log(), worker.log()[-3000:]
                restarts += 1
                assert restarts <= 2, p.logs()
                worker = p.start_worker("0")
            time.sleep(0.2)
        print(f"worker restarts after the broker kill: {restarts}")
        assert watch.answered() >= total, p.logs()
        assert p.stop(worker) == 0, p.logs()
        p.settle_and_check(watch, total)  # the input topic holds exactly `total` records: none lost, none doubled
        values = [r.value for r in p.read(p.input, total, timeout_s=30, quiet_s=0.5)]
        decoded = EventDecoder(SchemaRegistry(TopicCatalog.load()).validator("fraud.transactions")).decode_batch(values)
        ids = [event["event_id"] for event in decoded.events]
        # A resend that was not deduplicated would be a valid event twice (every event id is unique).
        assert len(ids) == len(set(ids)) == count, "the idempotent producer must neither lose nor duplicate"
    finally:
        p.stop_all()
        if generator.poll() is None:
            generator.kill()
