"""How fast the recs learner keeps up: ``python -m models.recs.learning.throughput [--requests N]``.

The learner's own core (:class:`engine.learn.ranking.core.RankingCore`, in memory: no Kafka, no faust)
is fed pre-generated requests, ranked lists and feedback — the records the three readers hand it — and
timed per configuration. Figures are records/s and impressions/s of *consumed* traffic (sampled or not),
so they compare directly with the hot path's requests/s (``streaminfer bench --pipeline recs``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from models.recs.learning.tools import RecsFeed, RecsTraffic, recs_memory_core

CONFIGS: dict[str, dict[str, Any]] = {
    "shipped sampling (join 0.02, features 0.05)": {},
    "join 0.1, features 0.1": {"sampling": {"feature_rate": 0.1, "join_rate": 0.1}},
    "everything sampled, no challengers": {"sampling": {"feature_rate": 1.0, "join_rate": 1.0},
                                           "shadow": {"enabled": False}},
    "everything sampled, challengers on 25 %": {"sampling": {"feature_rate": 1.0, "join_rate": 1.0}},
    "everything sampled, challengers on all": {"sampling": {"feature_rate": 1.0, "join_rate": 1.0},
                                               "shadow": {"sample_rate": 1.0}},
}


def measure(n_requests: int, seed: int = 5) -> list[dict[str, Any]]:
    """One row per configuration: requests/s, impressions/s, judged lists, seconds."""
    from engine.learn.settings import load_learn_settings

    shipped = load_learn_settings("recs")
    base = {"sampling": shipped.sampling.model_dump(), "shadow": shipped.shadow.model_dump(),
            "ranking": shipped.ranking.model_dump()}
    _, requests, ranked, feedback = RecsTraffic(seed=seed).batch(n_requests)
    rows = []
    for name, overrides in CONFIGS.items():
        sections = {key: {**base.get(key, {}), **value} for key, value in {**base, **overrides}.items()}
        core, _, _ = recs_memory_core(**sections)
        feed = RecsFeed()
        batches = [("in", feed.records("recs.requests", requests)), ("out", feed.records("recs.ranked", ranked)),
                   ("fb", feed.records("recs.feedback", feedback))]
        started = time.perf_counter()
        for step in range(0, n_requests, 500):  # the readers' interleaving: a batch of each in turn
            stop = step + 500
            core.on_inputs("recs.requests", batches[0][1][step:stop])
            core.on_outputs("recs.ranked", batches[1][1][step:stop])
        core.on_labels("recs.feedback", batches[2][1])
        seconds = time.perf_counter() - started
        rows.append({"config": name, "requests_per_s": n_requests / seconds,
                     "impressions_per_s": len(feedback) / seconds, "judged": core.champion.judged,
                     "seconds": seconds})
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args(argv)
    rows = measure(args.requests)
    print(f"{'configuration':<46} {'requests/s':>11} {'impressions/s':>14} {'judged':>7} {'seconds':>8}")
    for row in rows:
        print(f"{row['config']:<46} {row['requests_per_s']:>11,.0f} {row['impressions_per_s']:>14,.0f} "
              f"{row['judged']:>7} {row['seconds']:>8.1f}")


if __name__ == "__main__":
    main()
