"""How fast the learner catches up: ``python -m models.fraud.learning.throughput [--events N]``.

Two timed phases on private topics, measured through the learner's own Prometheus counters:

1. **all streams** — N events' transactions, stand-in champion scores and labels are pre-produced, then
   ``streaminfer learn`` starts from the beginning and reads the three topics at once: can it keep up
   with the hot path, which writes one record of each per event?
2. **labels alone** — the running learner reads N more events' transactions and scores, then stops
   (final checkpoint); their N labels are produced while it is down, and a restarted learner (restored
   state, join table recovered from its changelog) reads only them: the labels path with its joins and
   learning, and a check that the restart resumes exactly where the checkpoint ended.

Prints tables; asserts nothing (benchmarks are commands, not tests). Rates come from the counters'
first and last readings (every 0.1 s), so a short phase is still timed to about ±0.1 s. On a shared box
wall-clock rates follow the load; the learner's own CPU time per record (Linux ``/proc``) does much less.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from engine.learn.process import LearnerProcess
from models.fraud.generator import FraudGenerator
from models.fraud.learning.devtools import FraudFeeder, LearnTopicSet, delete_topics, write_pipeline

STREAMS = ("transactions", "scores", "labels")
MODELS = ("river_logreg", "river_hat")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (None off Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Progress:
    """First and last readings of one counter while it climbs to its target (and the learner's CPU then)."""

    start: float | None = None
    start_count: float = 0.0
    start_cpu: float | None = None
    end: float | None = None
    end_count: float = 0.0
    end_cpu: float | None = None

    def see(self, now: float, count: float, target: float, cpu: float | None) -> None:
        """Record a reading."""
        if count > 0 and self.start is None:
            self.start, self.start_count, self.start_cpu = now, count, cpu
        if count >= target and self.end is None:
            self.end, self.end_count, self.end_cpu = now, count, cpu

    def cpu_us_per_record(self) -> float | None:
        """The learner's CPU microseconds per record between the two readings."""
        if self.start_cpu is None or self.end_cpu is None or self.end_count <= self.start_count:
            return None
        return (self.end_cpu - self.start_cpu) * 1e6 / (self.end_count - self.start_count)

    def rate(self) -> float | None:
        """Records per second between the first and the last reading (None: timed out, or one reading)."""
        if self.start is None or self.end is None or self.end <= self.start:
            return None
        return (self.end_count - self.start_count) / (self.end - self.start)


def _counter(learner: LearnerProcess, name: str, **labels: str) -> float:
    return learner.value(name, **labels) or 0.0


def _joined(learner: LearnerProcess) -> float:
    return sum(_counter(learner, "streaminfer_learn_joined_total", order=o) for o in ("score_first", "label_first"))


def _watch(learner: LearnerProcess, targets: dict[str, float], timeout: float) -> dict[str, Progress]:
    """Poll the record counters until every stream reaches its target (or the timeout)."""
    progress = {stream: Progress() for stream in targets}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(p.end is not None for p in progress.values()):
        now, cpu = time.monotonic(), _cpu_seconds(learner.proc.pid)
        for stream, target in targets.items():
            progress[stream].see(now, _counter(learner, "streaminfer_learn_records_total", stream=stream), target,
                                 cpu)
        time.sleep(0.1)
    return progress


def _settled(learner: LearnerProcess, joined: float, timeout: float = 30.0) -> None:
    """Wait until every joined example is learned (the gauge follows each sweep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _counter(learner, "streaminfer_learn_model_samples", model=MODELS[0]) >= joined:
            return
        time.sleep(0.2)


HEADER = f"{'stream':16s} {'records':>10s} {'seconds':>8s} {'records/s':>10s} {'CPU µs/rec':>10s}"


def _row(name: str, records: float, progress: Progress, with_cpu: bool = True) -> str:
    rate = progress.rate()
    if rate is None:
        return f"{name:16s} {records:>10,.0f} {'timeout':>8s}"
    seconds = (progress.end_count - progress.start_count) / rate
    cpu = progress.cpu_us_per_record() if with_cpu else None
    return f"{name:16s} {records:>10,.0f} {seconds:>8.2f} {rate:>10,.0f} {'' if cpu is None else f'{cpu:10.1f}'}"


def run(bootstrap: str, events: int, join_rate: float, feature_rate: float, timeout: float) -> int:
    """Produce, run the learner through both phases, print the tables; returns an exit code."""
    prefix = f"learn-bench-{uuid.uuid4().hex[:8]}"
    topics = LearnTopicSet.named(prefix)
    topics.create(bootstrap)
    workdir = Path(tempfile.mkdtemp(prefix="learn-bench-"))
    env = {"STREAMINFER_LEARN__STATE_KEY": uuid.uuid4().hex}
    learners: list[LearnerProcess] = []
    try:
        generator = FraudGenerator(seed=3)
        generator.batch(16_384)
        feeder = FraudFeeder(bootstrap, topics)
        for start in range(0, events, 10_000):
            chunk, labels = generator.batch(min(10_000, events - start))
            feeder.transactions(chunk)
            feeder.scores(chunk)
            feeder.labels(chunk, labels)
        feeder.flush(120)
        pipeline = write_pipeline(workdir, "bench", bootstrap, topics, {
            "app_id": f"{prefix}-app", "sampling": {"feature_rate": feature_rate, "join_rate": join_rate},
            "stream": {"start_from": "earliest"}, "join": {"sweep_interval_s": 1}})

        def start_learner(name: str) -> LearnerProcess:
            learners.append(LearnerProcess(pipeline, workdir / f"{name}.log", env).start())
            learners[-1].wait_for("metrics", lambda: learners[-1].value("streaminfer_learn_join_pending") is not None,
                                  120)
            return learners[-1]

        # Phase 1: the three streams at once.
        first = start_learner("learner-1")
        all_streams = _watch(first, dict.fromkeys(STREAMS, events), timeout)
        records = {s: _counter(first, "streaminfer_learn_records_total", stream=s) for s in STREAMS}
        sampled = _counter(first, "streaminfer_learn_sampled_total", sample="features")
        joined_1 = _joined(first)
        _settled(first, joined_1)
        learned_1 = {m: _counter(first, "streaminfer_learn_model_samples", model=m) for m in MODELS}

        # Phase 2: scores (and features) wait in the join; then labels alone, read by a restarted learner.
        chunk, labels = generator.batch(events)
        feeder.transactions(chunk)
        feeder.scores(chunk)
        feeder.flush(120)
        first.wait_for("phase 2 scores", lambda: _counter(first, "streaminfer_learn_records_total",
                                                          stream="scores") >= 2 * events, timeout)
        first.wait_for("phase 2 transactions", lambda: _counter(first, "streaminfer_learn_records_total",
                                                                stream="transactions") >= 2 * events, timeout)
        first.stop()
        feeder.labels(chunk, labels)
        feeder.flush(120)
        second = start_learner("learner-2")
        labels_alone = _watch(second, {"labels": events}, timeout)["labels"]
        time.sleep(1.0)  # a re-read of phase 1's labels would show here
        labels_2 = _counter(second, "streaminfer_learn_records_total", stream="labels")
        joined_2 = _joined(second)
        _settled(second, learned_1[MODELS[0]] + joined_2)
        learned_2 = {m: _counter(second, "streaminfer_learn_model_samples", model=m) for m in MODELS}
    finally:
        for learner in learners:
            if learner.proc is not None and learner.proc.poll() is None:
                learner.stop()
        delete_topics(bootstrap, topics.all() + [f"{prefix}-app-state", f"{prefix}-app-join-changelog"])

    print(f"learner catch-up over {events:,} pre-produced events per phase (join_rate {join_rate}, feature_rate "
          f"{feature_rate}); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"\nphase 1, all streams at once\n{HEADER}")
    for stream in STREAMS:
        print(_row(stream, records[stream], all_streams[stream], with_cpu=False))
    ends = [p.end for p in all_streams.values()]
    if all(ends):
        first = min(all_streams.values(), key=lambda p: p.start)
        last = max(all_streams.values(), key=lambda p: p.end)
        # An event is one record of each stream: first record of any stream to the last one of all.
        events_row = Progress(first.start, 0.0, first.start_cpu, last.end, float(events), last.end_cpu)
        print(_row("events (all 3)", events, events_row))
    sampled_rate = sampled / max(records["transactions"], 1) * (all_streams["transactions"].rate() or 0.0)
    print(f"sampled for feature drift: {sampled:,.0f} events ({sampled_rate:,.0f}/s); "
          f"joined pairs: {joined_1:,.0f}; learned: " + ", ".join(f"{m} {n:,.0f}" for m, n in learned_1.items()))
    print(f"\nphase 2, labels alone after a restart\n{HEADER}")
    print(_row("labels", labels_2, labels_alone))
    label_rate = labels_alone.rate() or 0.0
    print(f"joined pairs: {joined_2:,.0f} ({joined_2 / max(labels_2, 1) * label_rate:,.0f}/s); labels re-read after "
          f"the restart: {labels_2 - events:,.0f}; learned in total: "
          + ", ".join(f"{m} {n:,.0f}" for m, n in learned_2.items()))
    return 0 if all(ends) and labels_alone.end is not None else 1


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--join-rate", type=float, default=0.1)
    parser.add_argument("--feature-rate", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    raise SystemExit(run(args.bootstrap, args.events, args.join_rate, args.feature_rate, args.timeout))


if __name__ == "__main__":
    main()
