"""The concept-drift probe's pure parts: the champion's signals and the learner's detector path over them."""

from __future__ import annotations

import numpy as np
import pytest

from engine.learn.settings import LearnSettings
from models.fraud.learning.concept_probe import champion_signals, judge, main


def test_signals_are_the_thresholded_errors_and_the_log_loss():
    signals = champion_signals(np.array([1, 0, 1, 0]), np.array([0.9, 0.6, 0.2, 0.1]), threshold=0.5)
    assert signals["error_rate"].tolist() == [0, 1, 1, 0]
    assert np.allclose(signals["log_loss"], -np.log([0.9, 0.4, 0.2, 0.9]))


def test_a_lasting_error_increase_is_found_and_confirmed_a_flat_stream_is_not():
    rng = np.random.default_rng(3)
    errors = np.concatenate([rng.uniform(size=30_000) < 0.01, rng.uniform(size=30_000) < 0.04]).astype(np.int64)
    loss = np.where(errors == 1, 3.0, 0.02)
    outcome = judge({"error_rate": errors, "log_loss": loss}, LearnSettings())
    first = next(f for f in outcome["error_rate"].findings if f >= 30_000)
    assert first < 33_000 and outcome["error_rate"].pages(30_000)[0][0] == first
    assert not outcome["error_rate"].pages(0, 30_000)
    flat = (rng.uniform(size=60_000) < 0.01).astype(np.int64)
    quiet = judge({"error_rate": flat, "log_loss": np.where(flat == 1, 3.0, 0.02)}, LearnSettings())
    assert not quiet["error_rate"].pages() and not quiet["log_loss"].pages()


@pytest.mark.parametrize("argv", [["--events", "10"], ["--drift-seeds", "-1"]])
def test_bad_arguments_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and "streams >= 10,000 events" in capsys.readouterr().err


def test_the_score_detector_finds_a_step_and_not_a_constant():
    from models.fraud.learning.concept_probe import prediction_findings

    rng = np.random.default_rng(5)
    step = np.concatenate([rng.normal(0.03, 0.01, 20_000), rng.normal(0.06, 0.01, 20_000)]).clip(0, 1)
    found = prediction_findings(step, LearnSettings())
    assert found and 20_000 <= found[0] < 21_000
    assert prediction_findings(np.full(20_000, 0.03), LearnSettings()) == []
