"""ServeWorker's control flow without Kafka or Triton: the real BatchBuilder (fraud decoder and
plugin) and offset ledger, fakes for the consumer, Triton and the delivery
(tests/unit/serve_worker_fakes.py); the loop's private steps are driven one at a time, so each test
decides when and in what order Triton answers."""

from __future__ import annotations

import numpy as np
import pytest
from confluent_kafka import TopicPartition

import engine.serve.worker as worker_module
from engine.inference.circuit_breaker import BreakerState, CircuitBreaker
from tests.unit.serve_worker_fakes import IN, Clock, Harness, records, scores


# -- publish order -----------------------------------------------------------------------------

def test_batches_publish_in_cut_order_whatever_order_triton_answers() -> None:
    h = Harness(max_rows=2, max_in_flight=4)
    h.consume(records(0, range(6)))
    h.worker._dispatch()
    assert len(h.requests) == 3
    h.requests[1].succeed()
    h.cycle()
    assert h.delivery.published == [], "batch 2 finished first but must wait for batch 1"
    h.requests[0].succeed()
    h.cycle()
    assert h.delivery.sources() == scores(0, range(4))
    assert [positions for _, positions in h.delivery.published] == [{(IN, 0): 2}, {(IN, 0): 4}]
    h.requests[2].succeed()
    h.cycle()
    assert h.delivery.sources() == scores(0, range(6))


def test_a_batch_of_only_dead_letters_still_waits_for_the_batch_before_it() -> None:
    h = Harness(max_rows=2, max_in_flight=4)
    h.consume(records(0, range(2)) + records(0, range(2, 4), value=b"not json"))
    h.worker._dispatch()
    assert len(h.requests) == 1, "the second batch needs no inference"
    h.cycle()
    assert h.delivery.published == []
    h.requests[0].succeed()
    h.cycle()
    assert h.delivery.sources() == scores(0, range(2)) + [("dlq", 0, 2), ("dlq", 0, 3)]


# -- retries -----------------------------------------------------------------------------------

@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(worker_module, "time", clock)
    return clock


def test_a_failed_batch_is_retried_after_its_backoff_ahead_of_new_batches(clock: Clock) -> None:
    h = Harness(max_rows=2, max_in_flight=2, backoff_s=1.0)
    h.consume(records(0, range(4)))
    h.worker._dispatch()
    first, second = h.requests
    first.fail()
    h.cycle()
    clock.advance(0.4)  # the backoff is 1 s with jitter in [0.5, 1]: not due yet
    h.cycle()
    assert len(h.requests) == 2
    h.consume(records(0, range(4, 6)))  # a new batch is ready and one slot is free...
    clock.advance(0.6)
    h.cycle()
    assert len(h.requests) == 3 and np.array_equal(h.requests[2].features, first.features), \
        "...but the due retry takes the slot"
    second.succeed()
    h.cycle()
    assert len(h.requests) == 4, "the new batch goes once a slot frees"
    h.requests[3].succeed()
    h.cycle()
    assert h.delivery.published == [], "batches 2 and 3 wait for the retried batch 1"
    h.requests[2].fail()  # second failure: backoff doubles to 2 s (jitter: at least 1 s)
    h.cycle()
    clock.advance(0.9)
    h.cycle()
    assert len(h.requests) == 4
    clock.advance(1.1)
    h.cycle()
    assert np.array_equal(h.requests[4].features, first.features)
    h.requests[4].succeed()
    h.cycle()
    assert h.delivery.sources() == scores(0, range(6))


def test_due_retries_go_oldest_batch_first(clock: Clock) -> None:
    h = Harness(max_rows=2, max_in_flight=2, backoff_s=1.0)
    h.consume(records(0, range(4)))
    h.worker._dispatch()
    first, second = h.requests
    second.fail()           # batch 2 fails first, so its retry is due first
    h.cycle()
    clock.advance(0.5)
    first.fail()
    h.cycle()
    assert len(h.requests) == 2
    clock.advance(2.0)      # both due
    h.cycle()
    assert np.array_equal(h.requests[2].features, first.features)
    assert np.array_equal(h.requests[3].features, second.features)


def test_a_model_error_is_retried_and_never_dead_lettered(clock: Clock) -> None:
    h = Harness(max_rows=2, max_in_flight=2, backoff_s=1.0)
    h.consume(records(0, range(2)))
    h.worker._dispatch()
    h.requests[0].fail(retriable=False)
    h.cycle()
    assert len(h.requests) == 1
    clock.advance(1.0)
    h.cycle()
    assert len(h.requests) == 2 and h.delivery.published == []
    assert h.metrics.registry.get_sample_value("streaminfer_inference_errors_total",
                                               {"pipeline": "fraud", "kind": "model_error"}) == 1
    h.requests[1].succeed()
    h.cycle()
    assert h.delivery.sources() == scores(0, range(2))


# -- rewinds -----------------------------------------------------------------------------------

def test_a_rewind_drops_pending_and_in_flight_batches_and_seeks_to_committed() -> None:
    h = Harness(max_rows=2, max_in_flight=2, partitions=(0, 1))
    h.consume(records(0, [10, 11]))
    h.worker._dispatch()
    h.requests[0].succeed()
    h.cycle()
    h.worker._commit()
    assert h.worker.ledger.committed == {(IN, 0): 12}
    h.consume(records(0, [12, 13]) + records(1, [5, 6]))
    h.worker._dispatch()
    assert len(h.requests) == 3, "both in flight: the cap (2) is reached"
    h.delivery.fail_publish = True
    h.requests[1].succeed()
    h.cycle()  # publishing batch 2 fails: rewind
    assert h.delivery.aborts == 1 and sorted(h.consumer.seeks) == [(0, 12), (1, 5)]
    assert h.metrics.registry.get_sample_value("streaminfer_rewinds_total", {"pipeline": "fraud"}) == 1
    h.requests[2].succeed()  # a late answer for a batch of the old epoch
    h.cycle()
    assert h.delivery.sources() == scores(0, [10, 11])
    h.consume(records(0, [12, 13]) + records(1, [5, 6]))  # consumed again from the rewind target
    h.worker._dispatch()
    assert len(h.requests) == 5, "the dropped batches no longer count against the in-flight cap"
    h.requests[4].succeed()
    h.requests[3].succeed()
    h.cycle()
    assert h.delivery.sources() == scores(0, [10, 11, 12, 13]) + scores(1, [5, 6]), "each record once, in order"


def test_a_failed_commit_rewinds_to_the_last_successful_commit() -> None:
    h = Harness(max_rows=2, max_in_flight=4)
    h.consume(records(0, [3, 4, 5, 6]))
    h.worker._dispatch()
    h.requests[0].succeed()
    h.cycle()
    h.delivery.fail_commit = True
    h.worker._commit()
    assert h.delivery.commits == [(False, {0: 5})]
    assert h.consumer.seeks == [(0, 3)] and h.worker.ledger.pending == {}
    h.requests[1].succeed()
    h.cycle()
    assert h.delivery.sources() == scores(0, [3, 4]), "nothing from before the rewind after it"


# -- rebalances --------------------------------------------------------------------------------

def test_lost_partitions_abort_everything_and_kept_ones_seek_to_committed() -> None:
    h = Harness(max_rows=2, max_in_flight=4, partitions=(0, 1))
    h.consume(records(0, [0, 1]))
    h.worker._dispatch()
    h.requests[0].succeed()
    h.cycle()
    h.worker._commit()
    h.consume(records(0, [2, 3]) + records(1, [7, 8]))
    h.worker._dispatch()
    h.requests[1].succeed()
    h.cycle()  # batch [p0 2, 3] published into the open (uncommitted) transaction
    h.worker._on_lost(h.consumer, [TopicPartition(IN, 1)])
    assert h.delivery.aborts == 1 and h.worker.ledger.pending == {}
    assert h.consumer.seeks == [(0, 2)], "only the kept partition, to its committed offset"
    assert (IN, 1) not in h.worker.ledger.committed
    h.consumer.assigned = [TopicPartition(IN, 0)]
    h.requests[2].succeed()  # the lost partition's batch answers late
    h.cycle()
    h.consume(records(0, [2, 3]))
    h.worker._dispatch()
    h.requests[3].succeed()
    h.cycle()
    assert h.delivery.sources() == scores(0, [0, 1]) + scores(0, [2, 3]) + scores(0, [2, 3])
    assert h.delivery.published[-1][1] == {(IN, 0): 4}


def test_revoke_commits_what_is_done_before_forgetting_the_partitions() -> None:
    h = Harness(max_rows=2, max_in_flight=4, partitions=(0, 1))
    h.consume(records(0, [0, 1]) + records(1, [0, 1]) + records(0, [2]))
    h.worker._dispatch()
    h.requests[1].succeed()
    h.requests[0].succeed()  # both answered, neither applied yet
    h.worker._on_revoke(h.consumer, [TopicPartition(IN, 1)])
    assert h.delivery.sources() == scores(0, [0, 1]) + scores(1, [0, 1])
    assert h.delivery.commits == [(True, {0: 2, 1: 2})], "the revoked partition's progress is committed"
    assert (IN, 1) not in h.worker.ledger.committed and h.worker.ledger.committed[(IN, 0)] == 2
    assert h.consumer.seeks == [(0, 2)], "the buffered record of the kept partition is consumed again"
    assert len(h.worker.builder) == 0


# -- back-pressure and the circuit breaker -----------------------------------------------------

def test_consumption_pauses_at_the_buffer_limit_and_resumes_below_it() -> None:
    h = Harness(max_rows=2, max_in_flight=1)  # limit: 2 * (1 + 2) = 6 buffered records
    h.consume(records(0, range(6)))
    h.worker._dispatch()
    h.consume(records(0, range(6, 8)))
    assert h.consumer.flow == [("pause", [0])] and len(h.worker.builder) == 4, "paused: nothing more consumed"
    h.requests[0].succeed()
    h.cycle()  # batch 1 published, batch 2 sent: 4 buffered
    h.worker._poll()
    assert h.consumer.flow == [("pause", [0]), ("resume", [0])] and len(h.worker.builder) == 4
    h.worker._poll()
    assert h.consumer.flow[-1] == ("pause", [0]), "back at 6"


def test_an_open_breaker_pauses_consumption_until_a_trial_batch_succeeds(clock: Clock) -> None:
    h = Harness(max_rows=2, max_in_flight=4, backoff_s=0.05)
    h.worker.breaker = CircuitBreaker(1, 1.0, clock=clock.monotonic)
    h.consume(records(0, range(2)))
    h.worker._dispatch()
    h.requests[0].fail()
    h.cycle()
    h.consume(records(0, range(2, 4)))
    assert h.worker.breaker.state == BreakerState.OPEN and h.consumer.flow == [("pause", [0])]
    h.cycle()
    assert len(h.requests) == 1, "nothing goes to Triton while open"
    h.inference.ready = False
    clock.advance(1.0)
    h.worker._probe_breaker()
    h.worker._poll()
    assert h.inference.probes == 1 and h.consumer.flow == [("pause", [0])]
    h.inference.ready = True
    clock.advance(1.0)
    h.worker._probe_breaker()
    h.worker._poll()
    assert h.worker.breaker.state == BreakerState.HALF_OPEN and h.consumer.flow[-1] == ("resume", [0])
    h.cycle()
    assert len(h.requests) == 2 and np.array_equal(h.requests[1].features, h.requests[0].features), \
        "the trial is the failed batch"
    h.requests[1].succeed()
    h.cycle()
    assert h.worker.breaker.state == BreakerState.CLOSED and len(h.requests) == 3


def test_half_open_retries_only_the_oldest_failed_batch(clock: Clock) -> None:
    h = Harness(max_rows=2, max_in_flight=4, backoff_s=0.05)
    h.worker.breaker = CircuitBreaker(1, 1.0, clock=clock.monotonic)
    h.consume(records(0, range(4)))
    h.worker._dispatch()
    first, second = h.requests
    second.fail()
    first.fail()
    h.worker._collect(timeout_s=0.0)
    clock.advance(1.0)  # both retries due, probe due
    h.worker._probe_breaker()
    h.worker._dispatch()
    assert len(h.requests) == 3 and np.array_equal(h.requests[2].features, first.features)
    h.requests[2].succeed()
    h.cycle()
    assert h.worker.breaker.state == BreakerState.CLOSED and len(h.requests) == 4, "closed: the rest goes"


def test_half_open_sends_a_single_trial_batch(clock: Clock) -> None:
    h = Harness(max_rows=2, max_in_flight=4, backoff_s=30.0)
    h.worker.breaker = CircuitBreaker(1, 1.0, clock=clock.monotonic)
    h.consume(records(0, range(2)))
    h.worker._dispatch()
    h.consume(records(0, range(2, 6)))  # buffered while batch 1 is in flight
    h.requests[0].fail()  # opens the breaker; the retry is due only in 15-30 s
    h.worker._collect(timeout_s=0.0)
    assert h.worker.breaker.state == BreakerState.OPEN and len(h.worker.builder) == 4
    clock.advance(1.0)
    h.worker._probe_breaker()
    assert h.worker.breaker.state == BreakerState.HALF_OPEN
    h.worker._dispatch()
    assert len(h.requests) == 2, f"{len(h.requests) - 1} trial requests were sent while half-open"


class _Raising:
    def __init__(self, exc: Exception) -> None:
        self.exc, self.calls = exc, 0

    def __call__(self) -> None:
        self.calls += 1
        raise self.exc


def test_a_failing_close_is_logged_and_never_escapes(caplog) -> None:
    h = Harness()
    h.consumer.close = _Raising(RuntimeError("consumer gone"))
    h.delivery.close = _Raising(AttributeError("'Logger' object has no attribute 'log'"))
    h.worker._close()  # must not raise: the exit code was decided before closing
    assert h.delivery.close.calls == 1
    assert "producer close failed" in caplog.text and "consumer close failed" in caplog.text


def test_a_fenced_worker_does_not_flush_its_producer() -> None:
    h = Harness()
    h.delivery.close = _Raising(AssertionError("a fenced producer must not be flushed"))
    h.worker._fenced = True
    h.worker._close()
    assert h.delivery.close.calls == 0
