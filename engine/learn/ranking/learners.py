"""Shadow rankers: River recommenders wrapped to score candidate lists and learn from per-item feedback.

Clicks are biased by position (a user examines slot 1 far more often than slot 10), so a learner that
takes clicks at face value learns "was shown high" as much as "is relevant". Each wrapper corrects for it
its own way, with the position curve the learner estimates from the feedback
(:class:`~engine.learn.ranking.position_bias.PositionBiasEstimator`):

- ``fm`` — ``river.facto.FMClassifier`` over one-hot user, item and context, plus the position as a
  feature while learning only ("position-aware learning": the position weights soak up the examination
  effect; ranking leaves it out, as if every item were shown in the same slot);
- ``biased_mf`` — ``river.reco.BiasedMF`` regressing the inverse-propensity-weighted click
  ``clicked / theta[position]`` (clipped), an unbiased estimate of relevance under the position-based model.

Both are plain River estimators inside (``river.checks`` runs over them); the wrappers only map a
request to River's inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from river import base, facto, optim, reco

from engine.errors import ConfigError

_MAX_IPS_TARGET = 10.0  # clip of clicked / theta: one lucky click at slot 50 must not dominate


class ShadowRanker(Protocol):
    """What the shadow branch needs from a challenger."""

    name: str
    estimator: base.Estimator

    def scores(self, user: str, items: Sequence[str], context: Mapping[str, str]) -> np.ndarray:
        """Relevance scores of ``items`` for ``user`` (higher = ranked higher)."""

    def click_probabilities(self, user: str, items: Sequence[str], context: Mapping[str, str],
                            positions: Sequence[int], theta: np.ndarray) -> np.ndarray:
        """Probability that each item is clicked where it was shown (per-impression AUC, log loss)."""

    def learn(self, user: str, items: Sequence[str], context: Mapping[str, str], positions: Sequence[int],
              clicked: Sequence[bool], theta: np.ndarray) -> None:
        """Learn one request's feedback."""


def _propensity(theta: np.ndarray, position: int) -> float:
    return float(theta[min(position, len(theta)) - 1])


class FMRanker:
    """``river.facto.FMClassifier`` over ``user=…``, ``item=…``, ``<context>=…`` one-hots (+ ``pos=…`` while learning)."""

    def __init__(self, name: str, **params: Any) -> None:
        self.name = name
        params.setdefault("n_factors", 8)
        lr = float(params.pop("lr", 0.05))
        params.setdefault("weight_optimizer", optim.SGD(lr))
        params.setdefault("latent_optimizer", optim.SGD(lr))
        params.setdefault("l2_weight", 1e-4)
        params.setdefault("l2_latent", 1e-4)
        self.estimator: facto.FMClassifier = facto.FMClassifier(**params)

    @staticmethod
    def _x(user: str, item: str, context: Mapping[str, str]) -> dict[str, float]:
        x = {f"user={user}": 1.0, f"item={item}": 1.0}
        for name, value in context.items():
            x[f"{name}={value}"] = 1.0
        return x

    def scores(self, user: str, items: Sequence[str], context: Mapping[str, str]) -> np.ndarray:
        """Click probability as if shown in a neutral slot (no position feature)."""
        predict = self.estimator.predict_proba_one
        return np.fromiter((predict(self._x(user, item, context)).get(True, 0.5) for item in items), float, len(items))

    def click_probabilities(self, user: str, items: Sequence[str], context: Mapping[str, str],
                            positions: Sequence[int], theta: np.ndarray) -> np.ndarray:
        """Click probability at the slot each item was shown in (the position feature included)."""
        predict = self.estimator.predict_proba_one
        out = []
        for item, position in zip(items, positions):
            x = self._x(user, item, context)
            x[f"pos={min(position, len(theta))}"] = 1.0
            out.append(predict(x).get(True, 0.5))
        return np.asarray(out, float)

    def learn(self, user: str, items: Sequence[str], context: Mapping[str, str], positions: Sequence[int],
              clicked: Sequence[bool], theta: np.ndarray) -> None:
        """One ``learn_one`` per impression, the slot as a feature."""
        learn = self.estimator.learn_one
        for item, position, click in zip(items, positions, clicked):
            x = self._x(user, item, context)
            x[f"pos={min(position, len(theta))}"] = 1.0
            learn(x, bool(click))


class BiasedMFRanker:
    """``river.reco.BiasedMF`` on (user, item), regressing the propensity-weighted click."""

    def __init__(self, name: str, **params: Any) -> None:
        self.name = name
        params.setdefault("n_factors", 8)
        lr = float(params.pop("lr", 0.02))
        params.setdefault("bias_optimizer", optim.SGD(lr))
        params.setdefault("latent_optimizer", optim.SGD(lr))
        params.setdefault("l2_bias", 1e-4)
        params.setdefault("l2_latent", 1e-4)
        self.estimator: reco.BiasedMF = reco.BiasedMF(**params)

    def scores(self, user: str, items: Sequence[str], context: Mapping[str, str]) -> np.ndarray:
        """Estimated relevance (click probability if examined)."""
        predict = self.estimator.predict_one
        return np.fromiter((predict(user, item) for item in items), float, len(items))

    def click_probabilities(self, user: str, items: Sequence[str], context: Mapping[str, str],
                            positions: Sequence[int], theta: np.ndarray) -> np.ndarray:
        """Relevance × examination propensity of the slot, clipped to a probability."""
        relevance = self.scores(user, items, context)
        propensity = np.array([_propensity(theta, p) for p in positions])
        return np.clip(relevance * propensity, 1e-6, 1 - 1e-6)

    def learn(self, user: str, items: Sequence[str], context: Mapping[str, str], positions: Sequence[int],
              clicked: Sequence[bool], theta: np.ndarray) -> None:
        """``learn_one(user, item, clicked / theta[position])`` per impression."""
        learn = self.estimator.learn_one
        for item, position, click in zip(items, positions, clicked):
            target = min(_MAX_IPS_TARGET, 1.0 / max(_propensity(theta, position), 1e-3)) if click else 0.0
            learn(user, item, target)


#: Configurable rankers: kind in the YAML → builder taking (name, **params).
RANKERS: dict[str, Callable[..., ShadowRanker]] = {"fm": FMRanker, "biased_mf": BiasedMFRanker}


def build_ranker(name: str, kind: str, params: Mapping[str, Any]) -> ShadowRanker:
    """A fresh challenger.

    Raises:
        ConfigError: If the parameters do not fit the River estimator.
    """
    try:
        return RANKERS[kind](name, **dict(params))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"ranker {name} ({kind}): bad params {dict(params)}: {exc}") from None
