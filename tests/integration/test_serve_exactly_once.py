"""Exactly-once under failure: killed workers, a Triton outage and a rebalance lose nothing and
duplicate nothing, as seen by a read_committed reader; each partition stays in input order."""

from __future__ import annotations

import threading
import time

from tests.integration.harness import alerts_of, assert_exactly_once_in_order


class BackgroundProducer:
    """Produces events at a steady rate on a thread while the test breaks things."""

    def __init__(self, pipeline, count: int, seed: int, rate: float) -> None:
        self.events: list[dict] = []
        self._thread = threading.Thread(
            target=lambda: self.events.extend(pipeline.produce_events(count, seed=seed, rate=rate)), daemon=True)

    def __enter__(self) -> "BackgroundProducer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._thread.join(timeout=120)

    def wait(self) -> list[dict]:
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "producer did not finish"
        return self.events


def test_kill_dash_nine_twice_then_restart(pipeline) -> None:
    p = pipeline("kill9")
    with BackgroundProducer(p, count=12_000, seed=21, rate=1500) as producer:
        worker = p.start_worker("0")
        time.sleep(3.0)
        p.kill9(worker)  # mid-stream, transaction open
        worker = p.start_worker("0")  # same transactional.id: fences and aborts the zombie's transaction
        time.sleep(3.5)
        p.kill9(worker)
        worker = p.start_worker("0")
        events = producer.wait()
    scores = p.read(p.output, expected=len(events), timeout_s=150)
    assert p.stop(worker) == 0, p.logs()
    assert_exactly_once_in_order(events, scores)


def test_triton_outage_mid_stream(pipeline, stack) -> None:
    p = pipeline("outage")
    triton = stack.triton
    with BackgroundProducer(p, count=8_000, seed=22, rate=800) as producer:
        worker = p.start_worker("0")
        time.sleep(3.0)
        assert triton.process.stop(grace_s=10)
        time.sleep(4.0)  # events keep arriving while Triton is down
        assert worker.poll() is None, "the worker must survive the outage\n" + p.logs()
        triton.start()
        stack.wait_ready()
        events = producer.wait()
    scores = p.read(p.output, expected=len(events), timeout_s=180)
    assert p.stop(worker) == 0, p.logs()
    assert_exactly_once_in_order(events, scores)
    logs = p.logs()
    assert "circuit breaker OPEN" in logs and "half-open" in logs
    alerts = alerts_of(p.read(p.alerts, expected=1, timeout_s=10, quiet_s=1.0))
    down = [a for a in alerts if a["kind"] == "inference_down"]
    assert len(down) == 1, alerts  # one incident, deduplicated, for on-call
    assert down[0]["severity"] == "critical" and down[0]["evidence"]["detector"] == "circuit_breaker"


def test_rebalance_from_one_to_two_workers(pipeline) -> None:
    p = pipeline("rebalance", partitions=4)
    with BackgroundProducer(p, count=10_000, seed=23, rate=1500) as producer:
        first = p.start_worker("0")
        time.sleep(3.0)
        second = p.start_worker("1")  # cooperative-sticky: some partitions move to the new worker
        events = producer.wait()
    scores = p.read(p.output, expected=len(events), timeout_s=150)
    assert p.stop(first) == 0 and p.stop(second) == 0, p.logs()
    assert_exactly_once_in_order(events, scores)
    assert "revoked" in p.logs(), "the second worker must have taken partitions over"


def test_sigterm_mid_stream_drains_commits_and_exits_zero(pipeline) -> None:
    p = pipeline("sigterm")
    warmup = p.produce_events(200, seed=25)
    worker = p.start_worker("0")
    assert len(p.read(p.output, expected=len(warmup), timeout_s=90, quiet_s=0.2)) == len(warmup), p.logs()
    with BackgroundProducer(p, count=12_000, seed=24, rate=2000) as producer:
        time.sleep(2.0)  # input keeps arriving: batches are in flight when SIGTERM lands
        assert p.stop(worker) == 0, "SIGTERM must drain, commit and exit 0\n" + p.logs()
        assert "drained and committed" in p.logs()
        partial = p.read(p.output, expected=1, timeout_s=10, quiet_s=1.0)
        events = warmup + producer.wait()
    assert len(warmup) < len(partial) < len(events), "stopped mid-stream"

    worker = p.start_worker("0")  # picks up exactly where the committed offsets are
    scores = p.read(p.output, expected=len(events), timeout_s=120)
    assert p.stop(worker) == 0, p.logs()
    assert_exactly_once_in_order(events, scores)
