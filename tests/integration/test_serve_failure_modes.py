"""Failure modes that must not lose input: model faults are loud and never dead-lettered;
at-least-once mode loses nothing across a crash."""

from __future__ import annotations

import time

import orjson

from tests.integration.harness import assert_exactly_once_in_order


def test_model_error_is_loud_and_input_is_kept_for_a_fixed_model(pipeline) -> None:
    p = pipeline("modelerr", shutdown_timeout_s=2.0)
    events = p.produce_events(300, seed=41)
    # A model mismatch: the engine asks for an input tensor the model does not have.
    broken = p.start_worker("0", env={"STREAMINFER_TRITON__INPUT_NAME": "not_an_input"})
    time.sleep(8.0)
    assert broken.poll() is None, "a model fault must not crash the worker\n" + p.logs()
    assert p.stop(broken) == 0, p.logs()
    logs = p.logs()
    assert "MODEL ERROR" in logs and "not dead-lettered" in logs
    assert p.read(p.dead_letter, expected=0, timeout_s=5, quiet_s=1.0) == [], "model faults are not input faults"
    assert p.read(p.output, expected=0, timeout_s=5, quiet_s=1.0) == []

    fixed = p.start_worker("0")  # the operator fixes the model/config: everything is still there
    scores = p.read(p.output, expected=len(events), timeout_s=120)
    assert p.stop(fixed) == 0, p.logs()
    assert_exactly_once_in_order(events, scores)


def test_at_least_once_loses_nothing_across_kill_dash_nine(pipeline) -> None:
    p = pipeline("alo", kafka={"delivery": "at-least-once"})
    events = p.produce_events(6000, seed=42)
    worker = p.start_worker("0")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(p.read(p.output, expected=1, timeout_s=2, quiet_s=0.2)) < 1500:
        time.sleep(0.2)
    p.kill9(worker)
    worker = p.start_worker("0")
    scores = p.read(p.output, expected=len(events), timeout_s=120)
    assert p.stop(worker) == 0, p.logs()
    seen = {orjson.loads(o.value)["event_id"] for o in scores}
    assert seen == {e["event_id"] for e in events}, "at-least-once may duplicate but never lose"
