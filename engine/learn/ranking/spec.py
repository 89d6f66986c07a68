"""What a ranking pipeline tells the learner: field names, context features, how scores become probabilities.

The records follow the engine's ranking convention (field names configurable):

- input (request): ``{request_id, user_id, candidates: [item_id, ...], context: {...}, ...}``;
- output (ranked list): ``{request_id, user_id, items: [{item_id, score, rank}, ...], model: {name, version}}``;
- feedback, one record per shown item: ``{request_id, item_id, position, clicked, feedback_time}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def logistic(scores: np.ndarray) -> np.ndarray:
    """Scores that are logits → probabilities."""
    return 1.0 / (1.0 + np.exp(-np.clip(scores, -30.0, 30.0)))


def _no_context(_request: dict[str, Any]) -> dict[str, float]:
    return {}


@dataclass(frozen=True)
class RankingLearning:
    """The learning side of a ranking pipeline.

    Attributes:
        context_names: Names of the numeric context features ``context_features`` returns (feature drift;
            challengers see them as ``ctx_<name>`` features).
        context_features: A decoded request → ``{name: value}`` over ``context_names``.
        categorical_context: A decoded request → ``{name: category}`` (challengers one-hot them).
        score_to_probability: The model's scores → P(relevant if examined); the learner multiplies it by the
            slot's estimated examination propensity for the click probability (per-impression AUC, log loss).
            Default: the scores are logits.
        request_id, user_id, candidates, items: Field names in the records.
    """

    context_names: Sequence[str] = ()
    context_features: Callable[[dict[str, Any]], dict[str, float]] = _no_context
    categorical_context: Callable[[dict[str, Any]], dict[str, str]] = lambda _request: {}
    score_to_probability: Callable[[np.ndarray], np.ndarray] = logistic
    request_id: str = "request_id"
    user_id: str = "user_id"
    candidates: str = "candidates"
    items: str = "items"
    kind: str = field(default="ranking", init=False)

    @property
    def settings_class(self) -> type:
        """:class:`~engine.learn.ranking.settings.RankingLearnSettings`."""
        from engine.learn.ranking.settings import RankingLearnSettings

        return RankingLearnSettings


def probability(scores: np.ndarray) -> np.ndarray:
    """Scores that already are probabilities (a model ending in a sigmoid), clipped to [0, 1]."""
    return np.clip(scores, 0.0, 1.0)
