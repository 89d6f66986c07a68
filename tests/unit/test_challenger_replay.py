"""The challenger replay's pure parts: splitting verdicts at the drift, the prior correction, the rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.fraud.learning.challenger_replay import log_loss, main, prior_corrected, rules, tally


def test_verdicts_are_split_at_the_drift():
    outcome = tally([500, 1000, 1250, 4000], drift_at=1000)
    assert (outcome.wins_before, outcome.wins_after, outcome.first_after) == (2, 2, 250)
    assert tally([], drift_at=10).first_after is None


def test_prior_correction_divides_the_odds_by_the_class_weight():
    scores = np.array([0.5, 0.8, 0.01])
    corrected = prior_corrected(scores, 8.0)
    odds = corrected / (1 - corrected)
    assert np.allclose(odds, scores / (1 - scores) / 8.0)
    assert np.allclose(prior_corrected(scores, 1.0), scores)


def test_a_calibrated_score_beats_an_inflated_one_on_log_loss():
    rng = np.random.default_rng(1)
    truth = rng.uniform(0.0, 0.05, 20_000)
    labels = (rng.uniform(size=truth.size) < truth).astype(float)
    inflated = truth * 8 / (1 + truth * 7)             # the same odds times 8
    assert log_loss(labels, truth) < log_loss(labels, inflated)
    assert math.isclose(log_loss(labels, prior_corrected(inflated, 8.0)), log_loss(labels, truth), rel_tol=1e-6)


def test_the_replay_judges_the_production_rule_and_the_demo_rule():
    judged = rules("fraud")
    metrics = sorted(settings.metric for settings in judged.values())
    assert metrics == ["log_loss", "roc_auc"]
    demo = next(settings for name, settings in judged.items() if name.startswith("demo"))
    assert (demo.window, demo.metric) == (2000, "log_loss")


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["--events", "10"], ["--drift-at", "1.0"], ["--drift-at", "0"]])
def test_bad_arguments_are_refused_before_any_work(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "--drift-at strictly between 0 and 1" in capsys.readouterr().err
