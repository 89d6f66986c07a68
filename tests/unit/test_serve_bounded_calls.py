"""The deadline around librdkafka's blocking transactional calls (librdkafka #5456): a call that never
returns is reported stuck, and later calls refuse; a slow call within its deadline returns."""

from __future__ import annotations

import threading
import time

import pytest

from engine.errors import ProducerStuckError
from engine.serve.delivery import BoundedCalls

def test_a_call_that_never_returns_is_reported_stuck_and_later_calls_refuse() -> None:
    calls, release = BoundedCalls(grace_s=0.2), threading.Event()
    assert calls.run(lambda: 42, 0.3, "quick") == 42
    with pytest.raises(ValueError):
        calls.run(lambda: (_ for _ in ()).throw(ValueError("from the call")), 0.3, "raising")
    started = time.monotonic()
    with pytest.raises(ProducerStuckError, match="wedge did not return within 1 s"):
        calls.run(release.wait, 0.8, "wedge")
    assert 0.9 <= time.monotonic() - started < 3.0
    with pytest.raises(ProducerStuckError, match="stuck in an earlier call"):
        calls.run(lambda: 1, 0.3, "next")
    release.set()


def test_a_slow_call_within_its_deadline_returns() -> None:
    assert BoundedCalls(grace_s=0.5).run(lambda: time.sleep(0.6) or "done", 0.5, "slow") == "done"
