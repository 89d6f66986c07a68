"""Model rollouts on the real stack: the plan on Kafka, versions side by side in Triton, serve workers
as subprocesses, operators through the CLI.

Every test uses its own Triton model (``fraud_rollout``, see rollout_models.py) and its own plan,
mirror and audit topics, so no other test is ever served by a candidate.
"""

from __future__ import annotations

import subprocess
import threading
import sys
import time
from collections import Counter, defaultdict

import orjson
import pytest

from engine.inference.model_control import ModelControl
from engine.rollout.routing import BUCKETS, key_bucket
from engine.rollout.store import read_plan_log
from tests.integration.harness import metric, free_port
from tests.integration.rollout_models import MODEL, export_rollout_models

CLI = [sys.executable, "-m", "engine.cli.main", "models"]


@pytest.fixture(scope="module")
def versions(stack, fraud_model):
    return export_rollout_models(stack.settings.model_repository, fraud_model, stack.settings.triton_http_url)


@pytest.fixture()
def rollout_pipeline(pipeline, versions, stack):
    """A private fraud pipeline served by the rollout model (only its champion loaded, whatever an
    earlier test promoted), reports every half second."""
    ModelControl(stack.settings.triton_http_url).load_versions(MODEL, [versions.champion])

    def _make(name: str, partitions: int = 4, **rollout):
        # 256-row batches: more Triton requests per second for the step analysis to count
        return pipeline(name, partitions, triton={"model_name": MODEL, "model_version": ""},
                        batching={"max_rows": 256}, rollout={"report_interval_s": 0.5, **rollout})

    return _make


def models_cli(p, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*CLI, *args[:1], str(p.config_path), *args[1:]], capture_output=True, text=True,
                            timeout=120)
    if check:
        assert result.returncode == 0, f"models {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result


def current_plan(p):
    return read_plan_log(p.bootstrap, p.plan_topic, timeout_s=15).plan


def wait_applied(p, workers, generation: int, ports: list[int], timeout_s: float = 30.0) -> None:
    """Until every worker reports (on /metrics) that it applies plan ``generation``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(metric(port, "streaminfer_rollout_generation", -2) >= generation for port in ports):
            return
        time.sleep(0.2)
    raise AssertionError(f"workers did not apply generation {generation}:\n{p.logs()}")


def wait_scored(p, watch, count: int, timeout_s: float = 90.0) -> None:
    """Until ``count`` outputs are committed: the next plan change cannot touch these events."""
    deadline = time.monotonic() + timeout_s
    while watch.answered() < count:
        assert time.monotonic() < deadline, f"{watch.answered()} of {count} answered:\n{p.logs()}"
        time.sleep(0.2)


def versions_by_event(scores) -> dict[str, str]:
    return {r["event_id"]: r["model"]["version"] for r in (orjson.loads(o.value) for o in scores)}


def test_canary_by_key_on_two_workers_then_rollback_and_promote_exactly_once(rollout_pipeline, versions):
    """The same keys go to the candidate on both workers and after a kill -9; outputs name their
    version; a rollback and a promote take effect at a batch boundary with no score lost or doubled."""
    p = rollout_pipeline("rollout-canary")
    watch = p.watch()
    ports = [free_port(), free_port()]
    workers = [p.start_worker(str(i), metrics_port=port) for i, port in enumerate(ports)]
    phases: dict[str, list[dict]] = {}
    phases["before"] = p.produce_events(1500, seed=1)

    models_cli(p, "rollout", "--candidate", versions.identical, "--mode", "canary", "--weight", "30")
    canary = current_plan(p)
    assert (canary.champion, canary.candidate, canary.weight) == ("1", "2", 30.0)
    wait_applied(p, workers, canary.generation, ports)
    phases["canary"] = p.produce_events(3000, seed=2)

    # kill -9 one worker mid-canary; its successor must resume the same plan (same keys, same version)
    p.kill9(workers[0])
    ports[0] = free_port()
    workers[0] = p.start_worker("0", metrics_port=ports[0])
    wait_applied(p, workers, canary.generation, ports, timeout_s=60)
    phases["after_kill"] = p.produce_events(2000, seed=3)
    wait_scored(p, watch, sum(len(events) for events in phases.values()))

    models_cli(p, "rollback")
    rolled_back = current_plan(p)
    assert rolled_back.state.value == "rolled_back" and rolled_back.champion == "1"
    wait_applied(p, workers, rolled_back.generation, ports)
    phases["rolled_back"] = p.produce_events(1500, seed=4)
    wait_scored(p, watch, sum(len(events) for events in phases.values()))

    models_cli(p, "rollout", "--candidate", versions.identical, "--mode", "canary", "--weight", "50")
    models_cli(p, "promote")
    promoted = current_plan(p)
    assert promoted.state.value == "promoted" and promoted.champion == "2"
    wait_applied(p, workers, promoted.generation, ports)
    phases["promoted"] = p.produce_events(1500, seed=5)

    total = sum(len(events) for events in phases.values())
    wait_scored(p, watch, total)
    for worker in workers:
        assert p.stop(worker) == 0, p.logs()
    scores = p.settle_and_check(watch, total)  # every input offset answered once, in order

    served = versions_by_event(scores)
    in_slice = lambda e: key_bucket(e["card_id"], canary.plan_id) < 0.30 * BUCKETS  # noqa: E731
    for phase in ("canary", "after_kill"):
        events = phases[phase]
        by_version = Counter(served[e["event_id"]] for e in events)
        wrong = [e for e in events if served[e["event_id"]] != ("2" if in_slice(e) else "1")]
        assert not wrong, f"{phase}: {len(wrong)} events on the wrong version ({by_version}), e.g. {wrong[:2]}"
        assert 0.2 < by_version["2"] / len(events) < 0.4, by_version
    # both workers served candidate keys: every input partition saw version 2
    partitions_with_candidate = {o.partition for o in scores if orjson.loads(o.value)["model"]["version"] == "2"}
    assert partitions_with_candidate == set(range(4))
    assert {served[e["event_id"]] for e in phases["rolled_back"]} == {"1"}
    assert {served[e["event_id"]] for e in phases["promoted"]} == {"2"}

    audit = [orjson.loads(o.value) for o in p.read(p.audit, 5, timeout_s=30, quiet_s=1)]
    assert [a["decision"] for a in audit] == ["pinned", "started", "rolled_back", "started", "promoted"]
    assert audit[2]["exposure"]["events"] > 0 and audit[2]["exposure"]["keys"] > 0


def test_a_candidate_that_fails_to_load_leaves_the_champion_serving(rollout_pipeline, versions, stack):
    p = rollout_pipeline("rollout-unloadable")
    watch = p.watch()
    worker = p.start_worker("0")
    events = p.produce_events(800, seed=6)
    refused = models_cli(p, "rollout", "--candidate", versions.unloadable, "--mode", "shadow", check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"version {versions.unloadable}:" in refused.stderr and "Still serving: versions ['1']" in refused.stderr
    plan = current_plan(p)  # the champion was pinned before the load was tried; nothing routes to 5
    assert (plan.state.value, plan.champion, plan.candidate) == ("steady", "1", "")
    events += p.produce_events(800, seed=7)
    wait_scored(p, watch, len(events))
    assert p.stop(worker) == 0, p.logs()
    scores = p.settle_and_check(watch, len(events))
    assert set(versions_by_event(scores).values()) == {"1"}


def test_an_erroring_candidate_falls_back_to_the_champion_and_shadow_never_reaches_consumers(
        rollout_pipeline, versions):
    """A canary whose every request fails costs no score: the champion serves its keys (fallbacks
    counted); a shadow candidate's outputs go only to the mirror topic."""
    p = rollout_pipeline("rollout-erroring", partitions=2)
    watch = p.watch()
    port = free_port()
    worker = p.start_worker("0", metrics_port=port)
    models_cli(p, "rollout", "--candidate", versions.erroring, "--mode", "canary", "--weight", "50")
    wait_applied(p, [worker], current_plan(p).generation, [port])
    erroring = p.produce_events(2000, seed=8)
    wait_scored(p, watch, len(erroring))
    fallbacks = metric(port, "streaminfer_rollout_fallbacks_total")
    models_cli(p, "rollback")

    models_cli(p, "rollout", "--candidate", versions.random, "--mode", "shadow")
    wait_applied(p, [worker], current_plan(p).generation, [port])
    shadowed = p.produce_events(1500, seed=9)
    wait_scored(p, watch, len(erroring) + len(shadowed))
    assert p.stop(worker) == 0, p.logs()

    scores = p.settle_and_check(watch, len(erroring) + len(shadowed))
    assert set(versions_by_event(scores).values()) == {"1"}, "a consumer saw a candidate's output"
    assert fallbacks > 0.3 * len(erroring), f"only {fallbacks} fallbacks counted"
    mirror = [orjson.loads(o.value) for o in p.read(p.mirror, len(shadowed), timeout_s=60)]
    assert {m["model"]["version"] for m in mirror} == {versions.random}
    shadowed_ids = {e["event_id"] for e in shadowed}
    assert shadowed_ids <= {m["event_id"] for m in mirror}, "shadow mode mirrors every event by default"
    pairs_by_plan = defaultdict(int)
    for plan_id, _step, stats in read_plan_log(p.bootstrap, p.plan_topic).reports.values():
        pairs_by_plan[plan_id] += stats.mirror.pairs
    assert max(pairs_by_plan.values()) >= len(shadowed)


#: Guarded steps short enough for a test: three steps of 3 s, minimums sized to what a 1,500
#: events/s stream gives the candidate at 10 %. A held step keeps counting, so a loaded CI box that
#: cuts fewer, fuller batches (CI once saw 48 candidate requests in 12 s) gets more holds, not a
#: different verdict. Latency slack 50 ms: a p99 over 30 requests of an identical model on two
#: shared cores; the slow candidate's median is still over it.
FAST_GUARD = {"steps": [10, 50, 100], "step_duration_s": 3.0, "min_requests": 10, "min_events": 100,
              "min_mirror_pairs": 100, "mirror_rate": 0.5, "max_error_rate": 0.05, "max_inconclusive": 8,
              "min_latency_requests": 30, "latency_slack_ms": 50}


class SteadyProducer:
    """Produces fresh events at ``rate`` on a thread until stopped or ``max_events`` are sent."""

    def __init__(self, p, rate: float, max_events: int, seed: int) -> None:
        self.events: list[dict] = []
        self._stop = threading.Event()
        chunk = max(1, int(rate // 5))

        def run() -> None:
            round_seed = seed
            while not self._stop.is_set() and len(self.events) < max_events:
                self.events.extend(p.produce_events(chunk, seed=round_seed, rate=rate))
                round_seed += 1000

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()
        return self.events


def wait_for_audit(p, decision: str, timeout_s: float = 30.0) -> list[dict]:
    """The audit records once one with ``decision`` is among them."""
    deadline = time.monotonic() + timeout_s
    while True:
        audit = [orjson.loads(o.value) for o in p.read(p.audit, 1, timeout_s=10, quiet_s=0.5)]
        if any(a["decision"] == decision for a in audit):
            return audit
        assert time.monotonic() < deadline, f"no {decision!r} audit record: {[a['decision'] for a in audit]}"
        time.sleep(0.5)


def wait_for_state(p, states: set[str], timeout_s: float) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        plan = current_plan(p)
        if plan is not None and plan.state.value in states:
            return plan
        time.sleep(0.5)
    raise AssertionError(f"plan never reached {states}: {current_plan(p)}\n{p.logs()}")


def test_guarded_rollout_promotes_a_good_candidate_through_every_step(rollout_pipeline, versions):
    p = rollout_pipeline("rollout-guarded-good", analysis=FAST_GUARD)
    watch = p.watch()
    workers = [p.start_worker(str(i)) for i in range(2)]
    for worker in workers:
        worker.wait_for_assignment(timeout_s=60)
    producer = SteadyProducer(p, rate=1500, max_events=200_000, seed=20)
    models_cli(p, "rollout", "--candidate", versions.identical, "--mode", "guarded")
    promoted = wait_for_state(p, {"promoted", "rolled_back", "aborted"}, timeout_s=120)
    events = producer.stop()
    wait_scored(p, watch, len(events))
    for worker in workers:
        assert p.stop(worker) == 0, p.logs()
    p.settle_and_check(watch, len(events))  # exactly once across three weight changes and a promote

    assert promoted.state.value == "promoted" and promoted.champion == versions.identical, promoted.reason
    audit = wait_for_audit(p, "promoted")
    judged = [a for a in audit if a["decision"] not in ("inconclusive", "pinned", "closed")]
    assert [a["decision"] for a in judged] == ["started", "step_passed", "step_passed", "promoted"]
    assert [a["weight"] for a in judged[1:3]] == [50, 100]
    for record in judged[1:]:
        assert record["actor"] == "guard" and record["analysis"]["verdict"] == "pass"
        checks = {c["name"]: c for c in record["analysis"]["checks"]}
        assert checks["score_js"]["value"] < 0.01 and checks["score_js"]["samples"] >= 100
    alerts = [orjson.loads(o.value) for o in p.read(p.alerts, 1, timeout_s=30, quiet_s=1)]
    assert [(a["kind"], a["severity"]) for a in alerts if a["kind"].startswith("rollout")] == [
        ("rollout_promoted", "info")]


@pytest.mark.parametrize("broken", ["random", "slow"])
def test_guarded_rollout_rolls_back_a_broken_candidate_with_bounded_exposure(rollout_pipeline, versions, broken):
    """A candidate whose scores are random (caught by the mirrored score distance) or that is much
    slower (caught by latency p99) is rolled back by the guard mid-step; the rollback names the
    exposure, pages on-call, and afterwards only the champion serves."""
    p = rollout_pipeline(f"rollout-guarded-{broken}", analysis=FAST_GUARD)
    watch = p.watch()
    worker = p.start_worker("0")
    worker.wait_for_assignment(timeout_s=60)
    producer = SteadyProducer(p, rate=1500, max_events=200_000, seed=30)
    models_cli(p, "rollout", "--candidate", getattr(versions, broken), "--mode", "guarded")
    rolled_back = wait_for_state(p, {"promoted", "rolled_back", "aborted"}, timeout_s=60)
    time.sleep(2.0)  # the worker applies the rollback at its next batch
    after = p.produce_events(1000, seed=99)
    events = producer.stop() + after
    wait_scored(p, watch, len(events))
    # the guard closes the rollout a few seconds later, once every count is in
    audit = wait_for_audit(p, "closed")
    assert p.stop(worker) == 0, p.logs()
    scores = p.settle_and_check(watch, len(events))

    assert rolled_back.state.value == "rolled_back" and rolled_back.actor == "guard", rolled_back.reason
    assert rolled_back.step == 0, "rolled back in the first step, before any weight increase"
    # a step may be held (inconclusive) before the evidence is enough to fail it
    decisions = [a["decision"] for a in audit if a["decision"] != "inconclusive"]
    assert decisions == ["pinned", "started", "rolled_back", "closed"], decisions
    decision, closed = audit[-2], audit[-1]
    failed = {c["name"] for c in decision["analysis"]["checks"] if c["verdict"] == "fail"}
    assert failed & ({"score_js", "score_mean_abs_diff"} if broken == "random" else {"latency_p99"}), failed
    exposure = decision["exposure"]
    served = versions_by_event(scores)
    by_candidate = sum(1 for v in served.values() if v == getattr(versions, broken))
    assert 0 < exposure["events"] and 0 < exposure["keys"], exposure
    # the decision names what was reported when it was taken; the closing record counts every output
    assert exposure["events"] <= closed["exposure"]["events"] == by_candidate, (exposure, closed, by_candidate)
    exposed_keys = {e["card_id"] for e in events if served[e["event_id"]] == getattr(versions, broken)}
    assert closed["exposure"]["keys"] == len(exposed_keys)
    assert {served[e["event_id"]] for e in after} == {versions.champion}
    alerts = [orjson.loads(o.value) for o in p.read(p.alerts, 1, timeout_s=30, quiet_s=1)]
    paged = [a for a in alerts if a["kind"] == "rollout_rolled_back"]
    assert paged and paged[0]["severity"] == "critical" and paged[0]["evidence"]["exposure"]["events"] > 0
    seconds = (rolled_back.updated_ms - rolled_back.started_ms) / 1000
    all_keys = {e["card_id"] for e in events}
    print(f"\n{broken} candidate: rolled back {seconds:.1f} s after the start; {by_candidate} events and "
          f"{len(exposed_keys)} of {len(all_keys)} keys ({len(exposed_keys) / len(all_keys):.1%}) served by it "
          f"({exposure['events']} reported at the decision); {len(events)} events in all")
