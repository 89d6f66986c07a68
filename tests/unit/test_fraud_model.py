"""Unit tests for the fraud model: metrics, network, training, TorchScript and Triton export."""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import numpy as np
import pytest
import torch

from models import triton_repo
from models.fraud.export import INPUT, OUTPUT, ModelBuild, build_fraud_model
from models.fraud.features import CATEGORICAL_COLUMNS, FEATURE_NAMES, FraudFeatures
from models.fraud.generator import FraudGenerator
from models.fraud.network import FraudNet
from models.fraud.train import train_fraud_model
from models.metrics import average_precision, roc_auc
from models.torchscript import load_torchscript, score_in_process, to_torchscript_bytes
from tests.unit.triton_stub_fakes import served_model

SMALL = {"n_events": 20_000, "epochs": 1}


# ---------------------------------------------------------------- metrics
@pytest.mark.parametrize(
    ("labels", "scores", "auc", "ap"),
    [
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75, (1 + 2 / 3) / 2),
        ([0, 1], [0.5, 0.5], 0.5, 0.5),  # a tie counts one half
        ([0, 1, 1], [0.2, 0.9, 0.8], 1.0, 1.0),
        ([1, 1, 0], [0.2, 0.1, 0.9], 0.0, (1 / 2 + 2 / 3) / 2),
        ([1, 0, 1, 0, 0, 1], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], 5 / 9, (1 + 2 / 3 + 3 / 6) / 3),
    ],
)
def test_metrics_on_hand_computed_cases(labels: list[int], scores: list[float], auc: float, ap: float) -> None:
    assert roc_auc(np.array(labels), np.array(scores)) == pytest.approx(auc)
    assert average_precision(np.array(labels), np.array(scores)) == pytest.approx(ap)


def test_roc_auc_equals_pairwise_count_with_ties() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = rng.integers(0, 20, 300).astype(float)  # many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = [(p > n) + 0.5 * (p == n) for p, n in product(pos, neg)]
    assert roc_auc(labels, scores) == pytest.approx(np.mean(pairs))


def test_metrics_reject_degenerate_input() -> None:
    with pytest.raises(ValueError):
        roc_auc(np.array([1, 1]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError):
        average_precision(np.array([0, 0]), np.array([0.1, 0.2]))


# ---------------------------------------------------------------- network
@pytest.fixture(scope="module")
def features() -> np.ndarray:
    events, _ = FraudGenerator(31).batch(2000)
    return FraudFeatures().extract(events)


@pytest.fixture(scope="module")
def untrained_model(features: np.ndarray) -> FraudNet:
    torch.manual_seed(0)
    model = FraudNet(len(FEATURE_NAMES), CATEGORICAL_COLUMNS)
    model.fit_normalizer(features)
    return model.eval()


def test_forward_returns_probabilities_deterministically(untrained_model: FraudNet, features: np.ndarray) -> None:
    first = score_in_process(untrained_model, features)
    second = score_in_process(untrained_model, features)
    assert first.shape == (len(features), 1) and first.dtype == np.float32
    assert ((first > 0) & (first < 1)).all()
    np.testing.assert_array_equal(first, second)


def test_out_of_vocabulary_codes_score_like_unknown(untrained_model: FraudNet, features: np.ndarray) -> None:
    column = next(iter(CATEGORICAL_COLUMNS))
    unknown, wild = features[:10].copy(), features[:10].copy()
    unknown[:, column] = 0
    wild[:, column] = [99, -5, 1e9, 13, 2.5e3, 99, 99, 99, 99, 99]
    np.testing.assert_array_equal(score_in_process(untrained_model, unknown), score_in_process(untrained_model, wild))


def test_torchscript_round_trip_matches_eager(untrained_model: FraudNet, features: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(to_torchscript_bytes(untrained_model))
    scripted = load_torchscript(path)
    eager = score_in_process(untrained_model, features)
    assert np.abs(score_in_process(scripted, features) - eager).max() <= 1e-6


# ---------------------------------------------------------------- training and export
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelBuild, Path, Path]:
    # One small training run per session serves every export test (training is the slow part).
    root = tmp_path_factory.mktemp("triton")
    repo, cache = root / "repo", root / "cache"
    return build_fraud_model(repo, cache_dir=cache, seed=5, **SMALL), repo, cache


def test_small_training_run_learns_something(built: tuple[ModelBuild, Path, Path]) -> None:
    metrics = built[0].metrics
    assert metrics["n_events"] == SMALL["n_events"] and metrics["epochs"] == SMALL["epochs"]
    assert metrics["test"]["roc_auc"] > 0.7
    for drift in ("drift_0", "drift_1"):
        assert 0.0 <= metrics[drift]["roc_auc"] <= 1.0
    json.dumps(metrics)


def test_trained_model_is_returned_in_eval_mode() -> None:
    # Tiny and without drift streams: this checks the return contract, not the quality.
    model, metrics = train_fraud_model(seed=3, n_events=3000, epochs=1, drift_eval_events=0)
    assert isinstance(model, FraudNet) and not model.training
    assert "drift_1" not in metrics


def test_build_writes_a_versioned_repository_entry(built: tuple[ModelBuild, Path, Path]) -> None:
    build, repo, _ = built
    assert (build.name, build.version, build.path) == ("fraud", 1, repo / "fraud" / "1")
    assert not build.from_cache
    assert {p.name for p in build.path.iterdir()} == {"model.pt", "model.py", "metadata.json"}
    assert (build.path / "model.py").read_text() == triton_repo.PYTHON_BACKEND_SOURCE.read_text()
    metadata = json.loads((build.path / "metadata.json").read_text())
    assert metadata["feature_names"] == list(FEATURE_NAMES)
    assert metadata["model_sha256"] == build.sha256
    assert metadata["metrics"]["test"]["roc_auc"] == build.metrics["test"]["roc_auc"]
    assert {"seed", "created_at", "torch_version", "schema_version"} <= set(metadata)


def test_python_backend_config(built: tuple[ModelBuild, Path, Path]) -> None:
    config = (built[1] / "fraud" / "config.pbtxt").read_text()
    for expected in ('backend: "python"', "max_batch_size: 8192", f"dims: [ {len(FEATURE_NAMES)} ]",
                     'name: "features"', 'name: "score"', "dims: [ 1 ]", "TYPE_FP32",
                     "max_queue_delay_microseconds: 500", "kind: KIND_CPU", "count: 1", "version_policy: { all: {} }"):
        assert expected in config


def test_libtorch_config_variant_keeps_names() -> None:
    config = triton_repo.render_config("fraud", [INPUT], [OUTPUT], backend="libtorch")
    assert 'platform: "pytorch_libtorch"' in config and "backend:" not in config
    assert 'name: "features"' in config and 'name: "score"' in config and "KIND_GPU" in config


def test_second_build_reuses_the_cache_and_bumps_the_version(built: tuple[ModelBuild, Path, Path]) -> None:
    first, repo, cache = built
    second = build_fraud_model(repo, cache_dir=cache, seed=5, **SMALL)
    assert second.from_cache and second.version == 2 and second.sha256 == first.sha256
    with pytest.raises(FileExistsError):
        build_fraud_model(repo, version=1, cache_dir=cache, seed=5, **SMALL)


def test_python_backend_model_scores_a_dynamic_batch(built: tuple[ModelBuild, Path, Path],
                                                     features: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    build = built[0]
    config = {"input": [INPUT.to_json()], "output": [OUTPUT.to_json()]}
    served, pb_utils = served_model(build.path, config, monkeypatch)

    sizes = [1, 5, 17]
    chunks = np.split(features[:sum(sizes)], np.cumsum(sizes)[:-1])
    requests = [{"features": pb_utils.Tensor("features", c)} for c in chunks]
    requests.insert(1, {"features": pb_utils.Tensor("features", np.zeros((2, 3), np.float32))})
    responses = served.execute(requests)

    assert len(responses) == 4 and responses[1].error is not None
    reference = load_torchscript(build.path / "model.pt")
    for response, chunk in zip([responses[0], *responses[2:]], chunks):
        assert response.error is None
        (tensor,) = response.output_tensors
        assert tensor.name == "score" and tensor.array.shape == (len(chunk), 1)
        np.testing.assert_allclose(tensor.array, score_in_process(reference, chunk), atol=1e-6)
