"""Failure modes that must not lose input: model faults are loud and never dead-lettered;
at-least-once mode loses nothing across a crash that lands mid-stream."""

from __future__ import annotations

import time

from tests.integration.harness import assert_exactly_once_in_order
from tests.integration.test_serve_exactly_once import BackgroundProducer, kill_mid_stream


def test_model_error_is_loud_and_input_is_kept_for_a_fixed_model(pipeline, recs_model) -> None:
    p = pipeline("modelerr", shutdown_timeout_s=2.0)
    watch = p.watch()
    events = p.produce_events(300, seed=41)
    # A model mismatch: the fraud pipeline pointed at the recs model, whose inputs are not "features".
    broken = p.start_worker("0", env={"STREAMINFER_TRITON__MODEL_NAME": "recs"})
    broken.wait_for_log("MODEL ERROR", timeout_s=60)
    time.sleep(3.0)  # several retries
    assert broken.running(), "a model fault must not crash the worker\n" + p.logs()
    assert p.stop(broken) == 0, p.logs()
    assert "not dead-lettered" in broken.log()
    assert watch.dead.settle(0, quiet_s=1.0, timeout_s=5) == [], "model faults are not input faults"
    assert watch.scores.count() == 0

    fixed = p.start_worker("0")  # the operator fixes the model/config: everything is still there
    watch.scores.wait_for(len(events), timeout_s=120)
    assert p.stop(fixed) == 0, p.logs()
    scores = p.settle_and_check(watch, len(events))
    assert_exactly_once_in_order(events, scores)


def test_at_least_once_loses_nothing_across_kill_dash_nine(pipeline) -> None:
    p = pipeline("alo", kafka={"delivery": "at-least-once", "session_timeout_ms": 6000})
    watch = p.watch()
    with BackgroundProducer(p, count=20_000, seed=42, rate=2000) as producer:
        worker = p.start_worker("0")
        kill_mid_stream(p, watch, worker, producer, min_new_outputs=1500)
        worker = p.start_worker("0")
        worker.wait_for_assignment(timeout_s=60)
        events = producer.wait()
    watch.scores.wait_for(len(events), timeout_s=120)
    assert p.stop(worker) == 0, p.logs()
    scores = watch.scores.settle(len(events), quiet_s=3.0)
    report = p.invariant(len(events), scores)
    assert not report.missing and not report.unexpected, "at-least-once may duplicate but never lose: " + \
        report.summary()


def test_a_batch_that_cannot_fit_the_model_is_refused_at_start(pipeline) -> None:
    """256 requests × 500 candidates fit the recs model's max_batch_size (131,072 rows); 1,024 do not:
    Triton would reject every such batch as a model error, so the worker refuses to start (exit 2)."""
    p = pipeline("toobig", use_case="recs")
    worker = p.start_worker("0", env={"STREAMINFER_BATCHING__MAX_ROWS": "1024"})
    assert worker.wait(timeout_s=60) == 2, p.logs()
    assert "max_batch_size 131,072" in worker.log() and "batching.max_rows 1024" in worker.log()
