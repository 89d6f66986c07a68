"""What the position-debiased comparison says about the challengers, checked against the truth:
``python -m models.recs.learning.challenger_replay [--requests N] [--drift-at F] [--noise S]``.

Only a simulation can do this: the stream's world knows every user's true click probability for any item
in any slot, so besides what the learner *estimates* from the champion's impressions (IPS clicks@10), the
replay computes what each challenger's top-10 would *really* earn if it were served (expected clicks@10 =
Σ relevance × examination(slot)). The learner's own :class:`~engine.learn.ranking.core.RankingCore` runs
in memory over the champion's lists and feedback; each challenger's list is re-derived with the same model
state the core uses, just before the core scores and learns it.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import orjson

from models.recs.learning.tools import RecsFeed, RecsTraffic, recs_memory_core
from models.recs.world import device_index, examination_probability, sigmoid, surface_index


def expected_clicks(traffic: RecsTraffic, request: dict[str, Any], items: list[str], k: int) -> float:
    """True expected clicks in the top-k of ``items`` shown to ``request``'s user, at the stream's drift."""
    world, drift, shown = traffic.stream.world, traffic.stream.drift, items[:k]
    if not shown:
        return 0.0
    n, context = len(shown), request["context"]
    user = world.resolve_users([request["user_id"]], drift)
    ids = np.asarray(shown, dtype=np.str_)
    view = world.view_items(world.item_index(ids), drift, ids)
    logit = world.relevance_logit(np.repeat(user.taste, n, axis=0), view, device_index([context["device"]] * n),
                                  surface_index([context["surface"]] * n), np.full(n, context["hour"]))
    return float((sigmoid(logit) * examination_probability(np.arange(1, n + 1))).sum())


def replay(n_requests: int, drift_at: float, noise: float, seed: int = 11, block: int = 500) -> list[dict[str, Any]]:
    """Rows per block of requests: estimated and true clicks@10 of the champion and every challenger."""
    # The learner's windows are one block long, so each row's estimates cover exactly that block.
    core, _, _ = recs_memory_core(sampling={"feature_rate": 1.0, "join_rate": 1.0}, ranking={"window": block},
                                  shadow={"sample_rate": 1.0, "compare_every": block, "min_requests": 10 ** 9})
    traffic, feed, k = RecsTraffic(seed=seed, noise=noise), RecsFeed(), core.k
    rows = []
    for start in range(0, n_requests, block):
        if start >= drift_at * n_requests and traffic.stream.drift == 0.0:
            traffic.stream.set_drift(1.0)
        requests, req_values, ranked, feedback = traffic.batch(block)
        truth = {"champion": 0.0, **{m.name: 0.0 for m in core.shadow.models}}
        core.on_inputs("recs.requests", feed.records("recs.requests", req_values))
        for request, (user, ranked_value), _ in zip(requests, ranked, range(block)):
            champion = [item["item_id"] for item in orjson.loads(ranked_value)["items"]]
            truth["champion"] += expected_clicks(traffic, request, champion, k)
            candidates = list(dict.fromkeys([*request["candidates"][: core.settings.shadow.max_candidates],
                                             *champion]))
            context = core.learning.categorical_context(request)
            for model in core.shadow.models:  # the same state the core is about to rank with
                scores = model.scores(request["user_id"], candidates, context)
                ranking = [candidates[j] for j in np.argsort(-scores, kind="stable")]
                truth[model.name] += expected_clicks(traffic, request, ranking, k)
            mine = [(u, v) for u, v in feedback if orjson.loads(v)["request_id"] == request["request_id"]]
            core.on_outputs("recs.ranked", feed.records("recs.ranked", [(user, ranked_value)]))
            core.on_labels("recs.feedback", feed.records("recs.feedback", mine))
        snapshot = core.shadow.snapshot()
        row = {"requests": start + block, "drift": traffic.stream.drift,
               "champion_observed": snapshot["champion"][f"ips_ctr@{k}"], "champion_true": truth["champion"] / block}
        for model in core.shadow.models:
            figures = snapshot["challengers"][model.name]
            row[f"{model.name}_ips"] = figures[f"ips_ctr@{k}"]
            row[f"{model.name}_adj"] = figures[f"ips_ctr_adj@{k}"]
            row[f"{model.name}_true"] = truth[model.name] / block
            row[f"{model.name}_overlap"] = figures[f"overlap@{k}"]
        row["theta"] = snapshot["position_curve"][:5]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the table (every figure per block of requests)."""
    import logging

    logging.getLogger("streaminfer").setLevel(logging.ERROR)  # the learner's own alerts: not this table
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--drift-at", type=float, default=0.5, help="Taste/popularity/cohort drift after this share.")
    parser.add_argument("--noise", type=float, default=0.5, help="Champion noise (std of its logit error).")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    rows = replay(args.requests, args.drift_at, args.noise, args.seed)
    names = [key.removesuffix("_ips") for key in rows[0] if key.endswith("_ips")]
    header = f"{'requests':>8} {'drift':>5} {'champ obs':>9} {'champ true':>10}" + "".join(
        f" {n + ' ips':>13} {'adj':>6} {n + ' true':>13} {'overlap':>7}" for n in names)
    print(header)
    for row in rows:
        line = f"{row['requests']:>8} {row['drift']:>5.1f} {row['champion_observed']:>9.3f} {row['champion_true']:>10.3f}"
        for n in names:
            line += (f" {row[n + '_ips']:>13.3f} {row[n + '_adj']:>6.3f} {row[n + '_true']:>13.3f}"
                     f" {row[n + '_overlap']:>7.2f}")
        print(line)
    print(f"estimated position curve (slots 1-5): {rows[-1]['theta']}; "
          f"true: {[round(float(x), 3) for x in examination_probability(np.arange(1, 6))]}")


if __name__ == "__main__":
    main()
