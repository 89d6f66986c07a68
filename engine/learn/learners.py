"""Shadow learners by name: small River pipelines built from :class:`~engine.learn.settings.LearnerSpec`.

Each builder returns a plain River classifier (a ``compose.Pipeline`` or a tree), so River's contract
holds and River's own checks (``river.checks.check_estimator``) run over every configured learner.
Speeds on the 2-core box (STACK.md): scaler + logistic regression ≈ 33k predict+learn/s, Hoeffding
adaptive tree ≈ 6k/s; ARF is roughly ``n_models`` trees and is not configured by default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from river import base, forest, linear_model, naive_bayes, optim, preprocessing, tree

from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.learn.settings import LearnerSpec


def _logistic_regression(lr: float = 0.01, l2: float = 0.0) -> base.Classifier:
    # Scaling first: SGD on raw log-amounts and ages would follow the largest feature only.
    return preprocessing.StandardScaler() | linear_model.LogisticRegression(optimizer=optim.SGD(lr), l2=l2)


def _hoeffding_adaptive_tree(**params: Any) -> base.Classifier:
    return tree.HoeffdingAdaptiveTreeClassifier(**params)


def _adaptive_random_forest(**params: Any) -> base.Classifier:
    params.setdefault("n_models", 5)
    return forest.ARFClassifier(**params)


def _gaussian_nb(**params: Any) -> base.Classifier:
    return naive_bayes.GaussianNB(**params)


#: Configurable learners: kind in the YAML → builder taking the spec's params.
LEARNERS: dict[str, Callable[..., base.Classifier]] = {
    "logistic_regression": _logistic_regression,
    "hoeffding_adaptive_tree": _hoeffding_adaptive_tree,
    "adaptive_random_forest": _adaptive_random_forest,
    "gaussian_nb": _gaussian_nb,
}


def build_learner(spec: LearnerSpec) -> base.Classifier:
    """A fresh River classifier for ``spec``.

    Raises:
        ConfigError: If the parameters do not fit the builder.
    """
    try:
        return LEARNERS[spec.kind](**spec.params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"learner {spec.name} ({spec.kind}): bad params {spec.params}: {exc}") from None
