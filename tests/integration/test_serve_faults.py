"""Faults beyond a clean crash, each on the real stack and each ending in the full invariant (every input
offset scored or dead-lettered exactly once, in partition order, read by a read_committed reader after
every worker has stopped): a fenced zombie, lost partitions, a transaction the broker aborted during a
stall, back-pressure from a slow model (with a full producer queue), and scaling 1 → 3 → 1 workers."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import orjson
import pytest

from engine.inference.model_control import ModelControl
from models.triton_repo import PYTHON_BACKEND_SOURCE
from tests.integration.harness import free_port, metric, scrape
from tests.integration.test_serve_exactly_once import BackgroundProducer

SESSION_TIMEOUT_S = 6.0  # the broker's group.min.session.timeout.ms


def _scored(watch, at_least: int, p) -> None:
    assert watch.scores.wait_for(at_least, timeout_s=60) >= at_least, p.logs()


def test_zombie_is_fenced_exits_3_and_commits_nothing(pipeline) -> None:
    p = pipeline("zombie", kafka={"session_timeout_ms": int(SESSION_TIMEOUT_S * 1000)})
    watch = p.watch()
    with BackgroundProducer(p, count=45_000, seed=51, rate=1500) as producer:
        zombie = p.start_worker("0")
        zombie.wait_for_assignment()
        _scored(watch, 300, p)
        zombie.pause()  # frozen mid-transaction: no heartbeats, no commits
        time.sleep(SESSION_TIMEOUT_S + 2.0)  # the group has dropped it by now
        frozen_at = watch.answered()
        time.sleep(1.0)
        assert watch.answered() == frozen_at, "a frozen worker commits nothing"
        replacement = p.start_worker("0")  # same transactional.id: init_transactions fences the zombie
        replacement.wait_for_assignment()
        _scored(watch, frozen_at + 300, p)
        zombie.resume()  # the zombie wakes up still believing it owns the partitions
        code = zombie.wait(timeout_s=60)
        assert code == 3, f"a fenced worker exits 3, got {code}\n{zombie.log()[-3000:]}"
        assert "fenced, exiting without committing" in zombie.log()
        assert producer.running(), "the zombie must wake up mid-stream"
        events = producer.wait()
    watch.scores.wait_for(len(events), timeout_s=150)
    assert p.stop(replacement) == 0, p.logs()
    # Had the zombie committed its open transaction, those offsets would be answered twice here.
    p.settle_and_check(watch, len(events))


def test_lost_partitions_abort_and_rewind(pipeline) -> None:
    # Commits every 10 s, and the stall starts right after the first one: on waking, the worker meets
    # on_lost before its next commit is due, with the stalled transaction still open. (At 100 ms the
    # commit comes first, the broker refuses its offsets — "Unknown member" — and that aborts it.)
    p = pipeline("lost", kafka={"session_timeout_ms": int(SESSION_TIMEOUT_S * 1000), "commit_interval_ms": 10_000,
                                "transaction_timeout_ms": 120_000})
    watch = p.watch()
    port = free_port()
    with BackgroundProducer(p, count=45_000, seed=52, rate=1500) as producer:
        worker = p.start_worker("0", metrics_port=port)
        worker.wait_for_assignment()
        _scored(watch, 300, p)
        worker.pause()
        time.sleep(SESSION_TIMEOUT_S + 2.0)  # session expired: the coordinator evicted the member
        worker.resume()  # no replacement: the worker itself finds its partitions lost
        worker.wait_until(lambda: any(e == "lost" for e, _ in worker.partition_events()), 30, "a lost assignment")
        worker.wait_until(lambda: worker.partition_events()[-1][0] == "assigned", 60, "re-assignment after lost")
        assert scrape(port)["streaminfer_rewinds_total"] >= 1, "on_lost rewinds to the committed offsets"
        assert producer.running(), "the loss must happen mid-stream"
        events = producer.wait()
    watch.scores.wait_for(len(events), timeout_s=150)
    assert p.stop(worker) == 0, p.logs()
    p.settle_and_check(watch, len(events))


def test_a_stall_past_the_transaction_timeout_fences_the_worker_which_exits_3(pipeline) -> None:
    # transaction.timeout.ms 10 s, session 30 s: a 12 s stall times the open transaction out on the
    # broker (it aborts it and bumps the producer epoch) while the worker keeps its group membership.
    # librdkafka reports that as a fatal _FENCED error: the worker must exit 3 without committing, and a
    # restart resumes from the last commit. Commits every second keep a transaction open ~95 % of the
    # time, so the stall lands inside one (a stall during a commit times nothing out: then stall again).
    p = pipeline("txntimeout", kafka={"transaction_timeout_ms": 10_000, "commit_interval_ms": 1000,
                                      "session_timeout_ms": 30_000})
    watch = p.watch()
    with BackgroundProducer(p, count=60_000, seed=53, rate=1500) as producer:
        worker = p.start_worker("0")
        worker.wait_for_assignment()
        _scored(watch, 300, p)
        for _ in range(3):
            worker.pause()
            time.sleep(12.0)
            worker.resume()
            try:
                worker.wait(timeout_s=10)
                break
            except subprocess.TimeoutExpired:
                continue
        assert worker.returncode == 3, worker.log()[-3000:]
        assert "fenced, exiting without committing" in worker.log()
        assert "lost" not in {e for e, _ in worker.partition_events()}, "the stall must not cost the assignment"
        assert producer.running()
        worker = p.start_worker("0")
        worker.wait_for_assignment()
        events = producer.wait()
    watch.scores.wait_for(len(events), timeout_s=150)
    assert p.stop(worker) == 0, p.logs()
    p.settle_and_check(watch, len(events))


def test_an_abortable_produce_error_aborts_rewinds_and_recovers_once_fixed(pipeline, kafka_bootstrap) -> None:
    # The dead-letter topic accepts 1,000-byte batches; one malformed record of 5,000 random bytes in the
    # middle of the stream cannot be written there: the broker rejects it (MSG_SIZE_TOO_LARGE), which
    # makes the whole transaction abortable. The worker must abort it, rewind, and try again — never
    # commit the rest of the transaction without the dead letter — until an operator raises the limit.
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    p = pipeline("abortable")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def set_dead_letter_limit(limit: str) -> None:
        entry = ConfigEntry("max.message.bytes", limit, incremental_operation=AlterConfigOpType.SET)
        resource = ConfigResource(ConfigResource.Type.TOPIC, p.dead_letter, incremental_configs=[entry])
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(timeout=30)

    set_dead_letter_limit("1000")
    watch = p.watch()
    port = free_port()
    before = p.produce_events(2000, seed=56)
    producer, poison = p.producer(), []
    producer.produce(p.input, os.urandom(5000), b"poison", on_delivery=lambda _e, m: poison.append(m))
    assert producer.flush(30) == 0
    poison_at = (poison[0].partition(), poison[0].offset())
    after = p.produce_events(2000, seed=57)
    total = len(before) + len(after) + 1
    worker = p.start_worker("0", metrics_port=port)
    worker.wait_until(lambda: metric(port, "streaminfer_rewinds_total") >= 3, 60, "repeated rewinds")
    stuck = watch.scores.settle(0, quiet_s=1.5, timeout_s=30)
    assert watch.dead.count() == 0, "the dead letter cannot be written while the limit stands"
    past_poison = [r for r in stuck if (lambda s: s["partition"] == poison_at[0] and s["offset"] > poison_at[1])(
        orjson.loads(r.value)["source"])]
    assert not past_poison and len(stuck) < total, "nothing behind the failed record may commit without it"
    rewinds = metric(port, "streaminfer_rewinds_total")
    worker.wait_until(lambda: metric(port, "streaminfer_rewinds_total") > rewinds, 30,
                      "another rewind: the worker keeps retrying (abort, rewind, again)")
    assert scrape(port)['streaminfer_transactions_total{outcome="aborted"}'] >= 3
    assert worker.running(), "an abortable error is not fatal\n" + worker.log()[-3000:]

    set_dead_letter_limit("2097152")  # the operator's fix: the same records now go through
    watch.scores.wait_for(len(before) + len(after), timeout_s=120)
    assert p.stop(worker) == 0, p.logs()
    p.settle_and_check(watch, total)
    [dead] = watch.dead.records()
    assert dead.key == b"poison" and dead.headers["streaminfer.dlq.reason"] == "invalid_utf8"


@pytest.fixture()
def slow_model(stack, fraud_model):
    """``fraud_slow``: the fraud model behind a python backend that sleeps 300 ms per execute."""
    repository = stack.settings.model_repository
    model_dir = repository / "fraud_slow"
    shutil.rmtree(model_dir, ignore_errors=True)
    (model_dir / "1").mkdir(parents=True)
    shutil.copy(fraud_model / "model.pt", model_dir / "1" / "model.pt")
    shutil.copy(PYTHON_BACKEND_SOURCE, model_dir / "1" / "model.py")
    config = (repository / "fraud" / "config.pbtxt").read_text().replace('name: "fraud"', 'name: "fraud_slow"')
    config += 'parameters: { key: "execute_delay_ms" value: { string_value: "300" } }\n'
    (model_dir / "config.pbtxt").write_text(config)
    control = ModelControl(stack.settings.triton_http_url)
    control.load("fraud_slow")
    yield "fraud_slow"
    control.unload("fraud_slow")
    shutil.rmtree(model_dir, ignore_errors=True)


def test_back_pressure_pauses_consumption_bounds_the_backlog_and_loses_nothing(pipeline, slow_model) -> None:
    max_rows, in_flight, consume_batch = 128, 2, 100
    # A 50-message producer queue is always full behind a 128-row batch: BufferError on every publish.
    p = pipeline("backpressure", batching={"max_rows": max_rows, "max_in_flight": in_flight},
                 kafka={"consume_batch": consume_batch, "extra": {"queue.buffering.max.messages": 50}},
                 triton={"model_name": slow_model}, shutdown_timeout_s=5.0)
    watch = p.watch()
    events = p.produce_events(30_000, seed=54)  # all there at once: only back-pressure holds the worker
    port = free_port()
    slow = p.start_worker("0", metrics_port=port)
    slow.wait_for_assignment()
    limit = max_rows * (in_flight + 2) + consume_batch  # pause threshold plus one consume call
    samples, rss = [], []
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline:
        metrics = scrape(port)
        samples.append(metrics["streaminfer_buffered_records"])
        rss.append(slow.rss_bytes())
        time.sleep(0.2)
    metrics = scrape(port)
    assert metrics['streaminfer_consumption_pauses_total{reason="backlog"}'] >= 1, "consumption must pause"
    assert max(samples) <= limit, f"backlog {max(samples)} above {limit}"
    assert metrics["streaminfer_producer_queue_full_total"] >= 1, "the full producer queue was waited on"
    answered = watch.answered()
    assert 0 < answered < len(events) / 2, f"the slow model must hold the worker back ({answered} answered)"
    # 30k events fetched at once would be far more than this (decoded events and their batches).
    assert max(rss) - rss[0] < 64 * 2**20, f"RSS grew {(max(rss) - rss[0]) / 2**20:.0f} MiB while paused"
    assert p.stop(slow) == 0, p.logs()

    fast = p.start_worker("0", env={"STREAMINFER_TRITON__MODEL_NAME": "fraud"})  # the rest, quickly
    watch.scores.wait_for(len(events), timeout_s=180)
    assert p.stop(fast) == 0, p.logs()
    p.settle_and_check(watch, len(events))


def test_scaling_one_to_three_to_one_workers_under_load(pipeline) -> None:
    p = pipeline("scale", partitions=6, kafka={"session_timeout_ms": int(SESSION_TIMEOUT_S * 1000)})
    watch = p.watch()
    with BackgroundProducer(p, count=36_000, seed=55, rate=1500) as producer:
        first = p.start_worker("0")
        assert len(first.wait_for_assignment()) == 6
        _scored(watch, 300, p)
        # 1 → 3: a second host's supervisor runs instances 1 and 2 (serve --workers 2 --instance 1).
        more = p.start_worker("1", "--workers", "2")
        more.wait_until(lambda: sum(1 for e, tps in more.partition_events() if e == "assigned" and tps) >= 2, 60,
                        "both new workers assigned")
        first.wait_until(lambda: len(first.owned_partitions()) <= 2, 60, "worker 0 handing partitions over")
        # Cooperative: worker 0 logs its revoke in the first round, the new members their share in
        # the second; wait for both before checking that the three own every partition.
        every = {f"{p.input}[{i}]" for i in range(6)}
        first.wait_until(lambda: first.owned_partitions() | more.owned_partitions() == every, 60,
                         "the three workers owning every partition")
        at_three = watch.answered()
        _scored(watch, at_three + 1500, p)  # three workers score
        # 3 → 1: SIGTERM the supervisor; both of its workers drain, commit and leave the group.
        assert more.terminate(timeout_s=60) == 0, more.log()[-3000:]
        first.wait_until(lambda: len(first.owned_partitions()) == 6, 60, "worker 0 taking every partition back")
        assert producer.running(), "the scale-in must happen under load"
        events = producer.wait()
    watch.scores.wait_for(len(events), timeout_s=150)
    assert p.stop(first) == 0, p.logs()
    p.settle_and_check(watch, len(events))
