"""Exactly-once under failure: killed workers, a Triton outage, a rebalance and SIGTERM lose nothing
and duplicate nothing, as seen by a read_committed reader after every worker has stopped; each
partition stays in input order. Every test first proves that its failure happened mid-stream: the
worker owned partitions and had committed output, and input was still arriving."""

from __future__ import annotations

import threading
import time

import pytest

from tests.integration.harness import alerts_of, assert_exactly_once_in_order, free_port, scrape

FAST_GROUP = {"session_timeout_ms": 6000}  # the broker's minimum: a dead member leaves the group in 6 s
#: Every guarantee holds for every shipped pipeline: the same failure, the same check.
USE_CASES = pytest.mark.parametrize("use_case", ["fraud", "recs"])


class BackgroundProducer:
    """Produces events at a steady rate on a thread while the test breaks things."""

    def __init__(self, pipeline, count: int, seed: int, rate: float) -> None:
        self.count = count
        self.events: list[dict] = []
        self._thread = threading.Thread(
            target=lambda: self.events.extend(pipeline.produce_events(count, seed=seed, rate=rate)), daemon=True)

    def __enter__(self) -> "BackgroundProducer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._thread.join(timeout=120)

    def running(self) -> bool:
        """True while input is still being produced."""
        return self._thread.is_alive()

    def wait(self) -> list[dict]:
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "producer did not finish"
        return self.events


def kill_mid_stream(p, watch, worker, producer: BackgroundProducer, min_new_outputs: int = 300) -> int:
    """Wait until ``worker`` owns partitions and committed ``min_new_outputs`` more outputs, then SIGKILL
    it; assert it died mid-stream (input still arriving, outputs short of the input). Returns the
    committed output count at the kill."""
    before = watch.answered()
    worker.wait_for_assignment(timeout_s=60)
    reached = watch.scores.wait_for(before + min_new_outputs, timeout_s=60)
    assert reached >= before + min_new_outputs, f"worker produced nothing before the kill\n{p.logs()}"
    assert producer.running(), "the kill must land while input is still arriving"
    p.kill9(worker)
    at_kill = watch.answered()
    assert at_kill < producer.count, "outputs must still be short of the input at the kill"
    return at_kill


@USE_CASES
def test_kill_dash_nine_twice_then_restart(pipeline, use_case) -> None:
    p = pipeline("kill9", use_case=use_case, kafka=FAST_GROUP)
    watch = p.watch()
    count, rate = p.use_case.scaled(30_000, 1500)
    with BackgroundProducer(p, count=count, seed=21, rate=rate) as producer:
        worker = p.start_worker("0")
        small = int(300 * p.use_case.speed)
        kill_mid_stream(p, watch, worker, producer, small)  # transaction open, offsets uncommitted
        worker = p.start_worker("0")  # same transactional.id: fences and aborts the zombie's transaction
        kill_mid_stream(p, watch, worker, producer, small)
        worker = p.start_worker("0")
        worker.wait_for_assignment(timeout_s=60)
        events = producer.wait()
    watch.scores.wait_for(len(events), timeout_s=150)
    assert p.stop(worker) == 0, p.logs()
    scores = p.settle_and_check(watch, len(events))
    assert_exactly_once_in_order(events, scores, p.use_case.id_field)


@USE_CASES
def test_triton_outage_mid_stream(pipeline, stack, use_case) -> None:
    p = pipeline("outage", use_case=use_case)
    watch = p.watch()
    triton = stack.triton
    count, rate = p.use_case.scaled(14_000, 800)
    # The worker is up before input starts: a slow start on a busy box must not eat the time in which
    # the outage has to land (input flows for ~17 s; the outage starts after ~300 outputs).
    worker = p.start_worker("0")
    worker.wait_for_assignment(timeout_s=60)
    with BackgroundProducer(p, count=count, seed=22, rate=rate) as producer:
        first = int(300 * p.use_case.speed)
        assert watch.scores.wait_for(first, timeout_s=60) >= first, p.logs()
        assert producer.running(), "the outage must start while input is still arriving"
        assert triton.process.stop(grace_s=10)
        try:
            time.sleep(4.0)  # events keep arriving while Triton is down
            assert worker.running(), "the worker must survive the outage\n" + p.logs()
            stalled = watch.answered()
            time.sleep(1.0)
            assert watch.answered() == stalled, "nothing can be scored while Triton is down"
            assert producer.running(), "the outage must be mid-stream"
        finally:
            triton.start()  # a failure above must not leave Triton down for every later test
            stack.wait_ready()
        events = producer.wait()
    watch.scores.wait_for(len(events), timeout_s=180)
    assert p.stop(worker) == 0, p.logs()
    scores = p.settle_and_check(watch, len(events))
    assert_exactly_once_in_order(events, scores, p.use_case.id_field)
    logs = p.logs()
    assert "circuit breaker OPEN" in logs and "half-open" in logs
    alerts = alerts_of(p.read(p.alerts, expected=1, timeout_s=10, quiet_s=1.0))
    down = [a for a in alerts if a["kind"] == "inference_down"]
    assert len(down) == 1, alerts  # one incident, deduplicated, for on-call
    assert down[0]["severity"] == "critical" and down[0]["evidence"]["detector"] == "circuit_breaker"


@USE_CASES
def test_rebalance_from_one_to_two_workers(pipeline, use_case) -> None:
    # Commits every 2 s: the revoke must land inside an open transaction that holds outputs of the
    # revoked partitions (at 100 ms, librdkafka's join round usually lets it commit first), so a
    # worker that did not commit on revoke would hand over partitions whose outputs are uncommitted.
    p = pipeline("rebalance", partitions=4, use_case=use_case, kafka={"commit_interval_ms": 2000})
    watch = p.watch()
    ports = free_port(), free_port()
    count, rate = p.use_case.scaled(24_000, 1500)
    with BackgroundProducer(p, count=count, seed=23, rate=rate) as producer:
        first = p.start_worker("0", metrics_port=ports[0])
        assert len(first.wait_for_assignment()) == 4, first.partition_events()
        early = int(300 * p.use_case.speed)
        assert watch.scores.wait_for(early, timeout_s=60) >= early, p.logs()
        second = p.start_worker("1", metrics_port=ports[1])  # cooperative-sticky: some partitions move
        taken = second.wait_for_assignment(timeout_s=60)
        first.wait_until(lambda: any(e == "revoked" for e, _ in first.partition_events()), 30, "a revoke")
        revoked = {tp for e, tps in first.partition_events() if e == "revoked" for tp in tps}
        assert first.running() and second.running(), "both workers must be alive during the hand-over"
        kept = first.owned_partitions()
        assert taken == revoked and taken and kept and not kept & taken and len(kept | taken) == 4, (
            first.partition_events(), second.partition_events())
        assert producer.running(), "input must keep arriving across the hand-over"
        at_handover = watch.answered()
        events = producer.wait()
    watch.scores.wait_for(len(events), timeout_s=150)
    scored_by_second = scrape(ports[1])["streaminfer_events_scored_total"]
    assert scored_by_second > 0, "the new owner must have scored its partitions"
    assert at_handover < len(events)
    assert p.stop(first) == 0 and p.stop(second) == 0, p.logs()
    scores = p.settle_and_check(watch, len(events))
    assert_exactly_once_in_order(events, scores, p.use_case.id_field)


def test_sigterm_mid_stream_drains_commits_and_exits_zero(pipeline) -> None:
    p = pipeline("sigterm")
    watch = p.watch()
    warmup = p.produce_events(200, seed=25)
    worker = p.start_worker("0")
    assert watch.scores.wait_for(len(warmup), timeout_s=90) == len(warmup), p.logs()
    with BackgroundProducer(p, count=12_000, seed=24, rate=2000) as producer:
        assert watch.scores.wait_for(len(warmup) + 500, timeout_s=60) >= len(warmup) + 500, p.logs()
        assert p.stop(worker) == 0, "SIGTERM must drain, commit and exit 0\n" + p.logs()
        assert "drained and committed" in worker.log()
        partial = watch.scores.settle(1, quiet_s=1.0, timeout_s=10)
        events = warmup + producer.wait()
    assert len(warmup) < len(partial) < len(events), "stopped mid-stream"

    worker = p.start_worker("0")  # picks up exactly where the committed offsets are
    watch.scores.wait_for(len(events), timeout_s=120)
    assert p.stop(worker) == 0, p.logs()
    scores = p.settle_and_check(watch, len(events))
    assert_exactly_once_in_order(events, scores, p.use_case.id_field)
