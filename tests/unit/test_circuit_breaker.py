"""The breaker's state machine, driven by a fake clock."""

from engine.inference.circuit_breaker import BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(3, 1.0, clock=FakeClock())
    assert not breaker.record_failure() and not breaker.record_failure()
    breaker.record_success()  # resets the streak
    assert not breaker.record_failure() and not breaker.record_failure()
    assert breaker.allows_requests()
    assert breaker.record_failure() is True
    assert breaker.state == BreakerState.OPEN and not breaker.allows_requests()


def test_probe_gates_half_open_and_success_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 0.5, clock=clock)
    breaker.record_failure()
    assert not breaker.probe_due()
    clock.now = 0.6
    assert breaker.probe_due()
    breaker.record_probe(ready=False)
    assert breaker.state == BreakerState.OPEN and not breaker.probe_due()
    clock.now = 1.2
    breaker.record_probe(ready=True)
    assert breaker.state == BreakerState.HALF_OPEN and breaker.allows_requests()
    breaker.record_success()
    assert breaker.state == BreakerState.CLOSED and breaker.open_for_s == 0.0


def test_failure_while_half_open_reopens_without_reporting_a_new_opening() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(2, 0.1, clock=clock)
    breaker.record_failure()
    assert breaker.record_failure()
    clock.now = 1.0
    breaker.record_probe(ready=True)
    assert breaker.record_failure() is False
    assert breaker.state == BreakerState.OPEN
    assert breaker.open_for_s == 1.0
