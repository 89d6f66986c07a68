"""How fast the learner catches up: ``python -m engine.learn.throughput [--events N]``.

Pre-produces N generator events (transactions, stand-in champion scores, labels) to private topics,
starts ``streaminfer learn`` on them from the beginning, and times the catch-up through the learner's
own Prometheus counters. Prints a table; asserts nothing (benchmarks are commands, not tests).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

from engine.learn.devtools import FraudFeeder, LearnTopicSet, delete_topics, write_pipeline
from engine.learn.process import LearnerProcess
from models.fraud.generator import FraudGenerator

STREAMS = ("transactions", "scores", "labels")


def run(bootstrap: str, events: int, join_rate: float, feature_rate: float, timeout: float) -> int:
    """Produce, run the learner, print the table; returns an exit code."""
    prefix = f"learn-bench-{uuid.uuid4().hex[:8]}"
    topics = LearnTopicSet.named(prefix)
    topics.create(bootstrap)
    workdir = Path(tempfile.mkdtemp(prefix="learn-bench-"))
    learner = None
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
            "stream": {"start_from": "earliest"}})
        learner = LearnerProcess(pipeline, workdir / "learner.log",
                                 {"STREAMINFER_LEARN__STATE_KEY": uuid.uuid4().hex}).start()
        learner.wait_for("metrics", lambda: learner.value("streaminfer_learn_join_pending") is not None, 120)
        started = {s: None for s in STREAMS}
        finished = dict(started)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(finished.values()):
            now = time.monotonic()
            for stream in STREAMS:
                count = learner.value("streaminfer_learn_records_total", stream=stream) or 0
                if count and started[stream] is None:
                    started[stream] = now
                if count >= events and finished[stream] is None:
                    finished[stream] = now
            time.sleep(0.5)
        samples = {s: learner.value("streaminfer_learn_records_total", stream=s) or 0 for s in STREAMS}
        sampled = learner.value("streaminfer_learn_sampled_total", sample="features") or 0
        joined = sum(learner.value("streaminfer_learn_joined_total", order=o) or 0
                     for o in ("score_first", "label_first"))
        learned = learner.value("streaminfer_learn_model_samples", model="river_logreg") or 0
    finally:
        if learner is not None and learner.proc is not None:
            learner.stop()
        delete_topics(bootstrap, topics.all() + [f"{prefix}-app-state", f"{prefix}-app-join-changelog"])
    print(f"learner catch-up over {events:,} pre-produced events (join_rate {join_rate}, feature_rate "
          f"{feature_rate}); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'stream':14s} {'records':>10s} {'seconds':>8s} {'records/s':>10s}")
    for stream in STREAMS:
        if started[stream] is None or finished[stream] is None:
            print(f"{stream:14s} {samples[stream]:>10,.0f} {'timeout':>8s}")
            continue
        seconds = max(finished[stream] - started[stream], 0.5)
        print(f"{stream:14s} {samples[stream]:>10,.0f} {seconds:>8.1f} {samples[stream] / seconds:>10,.0f}")
    tx_seconds = (finished["transactions"] or time.monotonic()) - (started["transactions"] or time.monotonic())
    print(f"sampled for feature drift: {sampled:,.0f} events ({sampled / max(tx_seconds, 0.5):,.0f}/s); "
          f"joined pairs: {joined:,.0f}; learned by river_logreg: {learned:,.0f}")
    return 0 if all(finished.values()) else 1


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--join-rate", type=float, default=0.1)
    parser.add_argument("--feature-rate", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    raise SystemExit(run(args.bootstrap, args.events, args.join_rate, args.feature_rate, args.timeout))


if __name__ == "__main__":
    main()
