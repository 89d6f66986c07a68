"""The recs learner's view of a request: numeric context for drift, categories for the challengers."""

from __future__ import annotations

import math
from typing import Any

from engine.learn.ranking.spec import RankingLearning, probability
from models.recs.constants import DEVICES, SURFACES

#: Numeric context features per request (feature drift watches each; challengers see them too).
CONTEXT_NAMES: tuple[str, ...] = (*(f"device_{d}" for d in DEVICES), *(f"surface_{s}" for s in SURFACES),
                                  "hour_sin", "hour_cos", "log_candidates")


def context_features(request: dict[str, Any]) -> dict[str, float]:
    """Device and surface one-hots, hour of day on the circle, log of the candidate count."""
    context = request.get("context") or {}
    out = {name: 0.0 for name in CONTEXT_NAMES}
    device, surface = context.get("device"), context.get("surface")
    if f"device_{device}" in out:
        out[f"device_{device}"] = 1.0
    if f"surface_{surface}" in out:
        out[f"surface_{surface}"] = 1.0
    hour = float(context.get("hour", 0))
    out["hour_sin"], out["hour_cos"] = math.sin(2 * math.pi * hour / 24), math.cos(2 * math.pi * hour / 24)
    out["log_candidates"] = math.log1p(len(request.get("candidates") or ()))
    return out


def categorical_context(request: dict[str, Any]) -> dict[str, str]:
    """Device, surface and a 4-hour daypart, one-hot encoded by the challengers."""
    context = request.get("context") or {}
    return {"device": str(context.get("device", "?")), "surface": str(context.get("surface", "?")),
            "daypart": str(int(context.get("hour", 0)) // 4)}


def recs_learning() -> RankingLearning:
    """The recs pipeline's learning side."""
    # The served ranker ends in a sigmoid: its score is P(relevant), not a logit (models/recs/ranker.py).
    return RankingLearning(context_names=CONTEXT_NAMES, context_features=context_features,
                           categorical_context=categorical_context, score_to_probability=probability)
