"""The feedback simulator without Kafka: matching rankings to requests, click timing, memory, drift, stopping."""

from __future__ import annotations

import math

import orjson
import pytest
from typer.testing import CliRunner

from engine.cli.main import app
from models.recs.feedback_sim import (
    FeedbackOptions,
    FeedbackReport,
    FeedbackSimulator,
    PendingRequests,
    RequestSource,
    SimulatedUsers,
)
from models.recs.generator import RecsStream

SHOWN_MS = 1_750_000_000_000


def _ranked(request: dict, n: int | None = None) -> dict:
    """What serve would publish for ``request``: its first distinct candidates, rank 1 first."""
    items = list(dict.fromkeys(request["candidates"]))[: n or request.get("k", 10)]
    return {"request_id": request["request_id"], "user_id": request["user_id"],
            "items": [{"item_id": item, "score": -float(rank), "rank": rank} for rank, item in enumerate(items, 1)]}


def _users(**options) -> tuple[SimulatedUsers, FeedbackReport, list[tuple[dict, float]]]:
    """Simulated users who were sent the first requests of a run (each with its drift)."""
    opts = FeedbackOptions(**{"count": 200, "seed": 11, "click_window_s": 2.0, **options})
    report = FeedbackReport()
    users, source, sent = SimulatedUsers(opts, report), RequestSource(opts), []
    while True:
        requests, drift = source.next_chunk(64)
        if not requests:
            return users, report, sent
        for request in requests:
            users.remember(request, drift)
            sent.append((request, drift))


def test_feedback_is_one_record_per_shown_item_timed_inside_the_window() -> None:
    users, report, sent = _users()
    for request, _ in sent:
        assert users.on_ranked(_ranked(request), SHOWN_MS)
    assert users.due(SHOWN_MS) == []  # nothing is known at the impression itself
    early = [record for _, record in users.due(SHOWN_MS + 1999)]
    rest = [record for _, record in users.due(SHOWN_MS + 2000)]
    assert users.owed == 0 and users.pending == 0
    records = early + rest
    assert len(records) == report.impressions == sum(len(_ranked(r)["items"]) for r, _ in sent)
    assert all(r["clicked"] for r in early), "only clicks come before the window closes"
    assert all(r["feedback_time"] == SHOWN_MS + 2000 for r in rest if not r["clicked"])
    delays = [r["feedback_time"] - r["impression_time"] for r in records if r["clicked"]]
    assert delays and all(0 < d <= 2000 for d in delays)
    assert min(delays) < 1000, "30 s of simulated delays are scaled into the 2 s window, not clipped to its end"
    assert [r["feedback_time"] for r in records] == sorted(r["feedback_time"] for r in records)
    assert all(r["impression_time"] == SHOWN_MS for r in records)
    assert report.clicks == sum(r["clicked"] for r in records) > 0
    assert report.ranked == len(sent) and report.unmatched == 0


def test_positions_follow_the_rank_and_keys_are_the_user() -> None:
    users, _, sent = _users(count=5)
    request = sent[0][0]
    ranked = _ranked(request, 5)
    ranked["items"].reverse()  # listed out of order: position still follows rank
    users.on_ranked(ranked, SHOWN_MS)
    due = users.due(math.inf)
    by_position = sorted(due, key=lambda pair: pair[1]["position"])
    assert [r["item_id"] for _, r in by_position] == list(dict.fromkeys(request["candidates"]))[:5]
    assert [r["position"] for _, r in by_position] == [1, 2, 3, 4, 5]
    assert {key for key, _ in due} == {request["user_id"].encode()}


def test_rankings_of_requests_never_sent_are_counted_and_ignored() -> None:
    users, report, sent = _users(count=3)
    stranger = dict(sent[0][0], request_id="r-other-run-1")
    assert not users.on_ranked(_ranked(stranger), SHOWN_MS)
    assert users.on_ranked(_ranked(sent[0][0]), SHOWN_MS)
    assert not users.on_ranked(_ranked(sent[0][0]), SHOWN_MS), "a second ranking of one request is not shown"
    assert not users.on_ranked({"request_id": sent[1][0]["request_id"]}, SHOWN_MS), "no items: not a ranking"
    assert report.unmatched == 3 and report.ranked == 1
    assert report.impressions == len(_ranked(sent[0][0])["items"])


def test_memory_is_bounded_and_the_oldest_requests_are_forgotten() -> None:
    users, report, sent = _users(count=8, max_pending=5)
    assert users.pending == 5 and report.forgotten == 3
    assert not users.on_ranked(_ranked(sent[0][0]), SHOWN_MS), "forgotten: its ranking is unmatched"
    assert users.on_ranked(_ranked(sent[-1][0]), SHOWN_MS)
    pending = PendingRequests(2)
    for n in range(4):
        pending.remember({"request_id": str(n)}, 0.0)
    assert len(pending) == 2 and pending.forgotten == 2 and pending.take("0") is None and pending.take("3")


def test_clicks_follow_the_drift_a_request_was_generated_at() -> None:
    users, _, sent = _users(count=400, drift=0.0, drift_to=1.0, drift_at=0.5)
    assert [d for _, d in sent] == [0.0] * 200 + [1.0] * 200, "the switch falls between chunks exactly"
    reference = RecsStream(seed=11)
    assert [r for r, _ in sent[:200]] == list(reference.requests(200))
    reference.set_drift(1.0)
    assert [r for r, _ in sent[200:]] == list(reference.requests(200))
    for request, _ in reversed(sent):  # post-change rankings first: attribution is by generation, not arrival
        users.on_ranked(_ranked(request), SHOWN_MS)
    clicked = {(r["request_id"], r["position"]): r["clicked"] for _, r in users.due(math.inf)}
    before, after = RecsStream(seed=11, drift=0.0), RecsStream(seed=11, drift=1.0)
    differs = 0
    for request, drift in sent:
        ids = [item["item_id"] for item in _ranked(request)["items"]]
        expected = (before if drift == 0.0 else after).feedback(request, ids, SHOWN_MS)
        other = (after if drift == 0.0 else before).feedback(request, ids, SHOWN_MS)
        assert [clicked[(request["request_id"], e["position"])] for e in expected] == [e["clicked"] for e in expected]
        differs += [e["clicked"] for e in expected] != [o["clicked"] for o in other]
    assert differs > 20, "drift must change clicks, or this test shows nothing"


# -- the loop, with a fake broker, serve and clock ---------------------------------------------------


class FakeClock:
    """Wall time that only moves when the simulator waits."""

    def __init__(self) -> None:
        self.now = SHOWN_MS / 1000

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.001)


class FakeProducer:
    """Acknowledges every record (or fails the feedback ones) and remembers when each was produced."""

    def __init__(self, clock: FakeClock, fail_topic: str = "") -> None:
        self.clock, self.fail_topic, self.sent = clock, fail_topic, []

    def produce(self, topic, value, key, headers=None, on_delivery=None) -> None:
        self.sent.append((topic, key, orjson.loads(value), self.clock()))
        on_delivery("broker down" if topic == self.fail_topic else None, None)

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        return 0

    def on(self, topic: str) -> list:
        return [sent for sent in self.sent if sent[0] == topic]


class FakeServe:
    """The ranked reader: ranks each request ``latency_s`` after it was produced (``None``: never)."""

    def __init__(self, clock: FakeClock, producer: FakeProducer, latency_s: float | None = 0.02) -> None:
        self.clock, self.producer, self.latency_s, self.answered = clock, producer, latency_s, 0

    def poll(self, timeout_s: float) -> list[bytes]:
        self.clock.sleep(timeout_s)
        if self.latency_s is None:
            return []
        requests = self.producer.on("in")
        ready = [r for _, _, r, at in requests[self.answered:] if at + self.latency_s <= self.clock()]
        self.answered += len(ready)
        return [orjson.dumps(_ranked(request)) for request in ready]


def _simulate(latency_s: float | None = 0.02, fail_topic: str = "", **options):
    clock = FakeClock()
    producer = FakeProducer(clock, fail_topic)
    opts = FeedbackOptions(**{"count": 300, "seed": 5, "rate": 100.0, "click_window_s": 2.0, "wait_s": 5.0,
                              "requests_topic": "in", "ranked_topic": "out", "feedback_topic": "fb", **options})
    simulator = FeedbackSimulator("unused:9092", opts, producer=producer,
                                  reader=FakeServe(clock, producer, latency_s), clock=clock, sleep=clock.sleep)
    return simulator.run(), producer


def test_a_run_answers_every_ranking_on_time_and_ends_by_itself() -> None:
    report, producer = _simulate()
    assert report.ended_by == "complete" and report.complete
    assert report.requests == report.ranked == 300 and report.unanswered == report.abandoned == 0
    assert report.feedback == report.impressions == len(producer.on("fb")) == report.acknowledged - 300
    assert all(key == request["user_id"].encode() for _, key, request, _ in producer.on("in"))
    for _, key, record, produced_at in producer.on("fb"):
        assert key == record["user_id"].encode()
        assert record["feedback_time"] / 1000 <= produced_at < record["feedback_time"] / 1000 + 0.1
    # 3 s of requests at 100/s, then the last ones' click window: it stops, never waits for --wait-s.
    assert 5.0 <= report.seconds < 5.5 and report.max_late_ms < 100
    assert report.ctr_at(1) > report.ctr_at(10) > 0


def test_without_rankings_it_stops_after_wait_s() -> None:
    report, producer = _simulate(latency_s=None, count=50)
    assert report.ended_by == "wait" and report.unanswered == 50 and report.ranked == report.feedback == 0
    assert 5.0 <= report.seconds - 0.5 < 5.3  # 0.5 s of requests, then 5 s without any ranking
    assert report.complete


def test_the_deadline_stops_the_run_and_counts_what_was_owed() -> None:
    report, _ = _simulate(deadline_s=3.5)
    assert report.ended_by == "deadline" and report.abandoned > 0
    assert report.feedback + report.abandoned == report.impressions
    assert report.seconds == pytest.approx(3.5, abs=0.1)


def test_a_failed_delivery_makes_the_run_incomplete() -> None:
    report, _ = _simulate(fail_topic="fb", count=20)
    assert not report.complete and report.failed == report.feedback > 0 and report.first_failure == "broker down"


# -- the CLI ---------------------------------------------------------------------------------------


def test_cli_runs_the_simulator_and_fails_on_an_unacknowledged_record(monkeypatch) -> None:
    seen: list[FeedbackOptions] = []

    class Simulator:
        def __init__(self, _bootstrap: str, options: FeedbackOptions) -> None:
            seen.append(options)

        def run(self) -> FeedbackReport:
            return FeedbackReport(requests=3, ranked=3, ended_by="complete", unacknowledged=int(len(seen) > 1))

    monkeypatch.setattr("models.recs.feedback_sim.FeedbackSimulator", Simulator)
    args = ["generate", "recs", "--feedback", "-n", "3", "--click-window-s", "2", "--drift-to", "1",
            "--drift-at", "0.25", "--rate", "50", "--ranked-topic", "r", "--feedback-topic", "f"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 requests, 3 ranked" in result.output and result.output.count("\n") == 1
    options = seen[0]
    assert (options.count, options.click_window_s, options.drift_to, options.drift_at, options.rate) == (
        3, 2.0, 1.0, 0.25, 50.0)
    assert (options.ranked_topic, options.feedback_topic, options.requests_topic) == ("r", "f", "recs.requests")
    assert CliRunner().invoke(app, args).exit_code == 1


def test_cli_drift_to_needs_feedback() -> None:
    result = CliRunner().invoke(app, ["generate", "recs", "--drift-to", "1"])
    assert result.exit_code == 2 and "--drift-to needs --feedback" in result.output
