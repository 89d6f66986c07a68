"""The recs ranker: cold start, TorchScript, a small training run against popularity, export and serving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models import triton_repo
from models.build_cache import ModelBuild
from models.recs.constants import CONTEXT_NAMES, N_ITEM_BUCKETS, N_USER_BUCKETS
from models.recs.export import INPUTS, MAX_BATCH_ROWS, OUTPUT, build_recs_model, score_in_process
from models.recs.features import request_tensors
from models.recs.generator import RecsStream
from models.recs.popularity import PopularityRanker
from models.recs.ranker import RecsRanker
from models.recs.train import SMALL
from models.torchscript import load_torchscript, to_torchscript_bytes
from tests.unit.triton_stub_fakes import request, served_model


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return list(RecsStream(21, n_users=300, n_items=600).requests(40))


@pytest.fixture(scope="module")
def random_ranker() -> RecsRanker:
    torch.manual_seed(0)
    model = RecsRanker(dim=8)
    with torch.no_grad():
        for parameter in model.parameters():  # nothing left at its zero initialisation
            parameter.normal_(0, 0.3)
    return model.eval()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelBuild, Path, Path]:
    # One small training run serves every test below (training is the slow part).
    root = tmp_path_factory.mktemp("recs")
    repo, cache = root / "repo", root / "cache"
    return build_recs_model(repo, cache_dir=cache, seed=5, settings=SMALL), repo, cache


def test_scores_are_probabilities_per_row(random_ranker: RecsRanker, events: list[dict]) -> None:
    inputs, offsets, _ = request_tensors(events, 500)
    scores = score_in_process(random_ranker, inputs)
    assert scores.shape == (offsets[-1], 1) and scores.dtype == np.float32
    assert ((scores > 0) & (scores < 1)).all()


def test_out_of_range_buckets_wrap_instead_of_crashing(random_ranker: RecsRanker) -> None:
    context = torch.zeros(2, len(CONTEXT_NAMES))
    inside = random_ranker(torch.tensor([[3], [5]]), torch.tensor([[7], [9]]), context)
    outside = random_ranker(torch.tensor([[3 + N_USER_BUCKETS], [5 - N_USER_BUCKETS]]),
                            torch.tensor([[7 + 2 * N_ITEM_BUCKETS], [9 - N_ITEM_BUCKETS]]), context)
    torch.testing.assert_close(inside, outside)


def test_torchscript_round_trip_matches_eager(random_ranker: RecsRanker, events: list[dict], tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(to_torchscript_bytes(random_ranker))
    inputs, _, _ = request_tensors(events, 500)
    eager = score_in_process(random_ranker, inputs)
    assert np.abs(score_in_process(path, inputs) - eager).max() <= 1e-6


def test_small_training_run_beats_popularity(built: tuple[ModelBuild, Path, Path]) -> None:
    metrics = built[0].metrics
    for name in ("ndcg_at_10", "hr_at_10"):
        assert metrics["test"][name] > metrics["popularity"][name] + 0.02, name
        assert metrics["cold_users"][name] >= metrics["cold_users_popularity"][name] - 0.02, name
        assert metrics["test"][name] <= metrics["oracle"][name]
        assert 0 <= metrics["drift_1"][name] <= 1
    assert metrics["seconds"]["total"] > 0
    json.dumps(metrics)


def test_a_cold_user_gets_a_popularity_driven_ranking(built: tuple[ModelBuild, Path, Path]) -> None:
    model = load_torchscript(built[0].path / "model.pt")
    user_rows = model.user_embedding.weight.detach()
    assert (user_rows.abs().sum(dim=1) == 0).float().mean() > 0.8, "buckets no user trained stay exactly zero"
    training = RecsStream(5, n_users=SMALL.n_users, n_items=SMALL.n_items).training_log(SMALL.n_train_requests)
    items = np.unique(training.item_ids[~training.cold_item])  # catalogue items training has seen
    event = {"user_id": "u-brand-new", "candidates": items.tolist(),
             "context": {"device": "ios", "surface": "home", "hour": 12}}
    inputs, _, _ = request_tensors([event], len(items))
    assert user_rows[int(inputs["user_bucket"][0, 0])].abs().sum() == 0
    scores = score_in_process(model, inputs).ravel()
    positives = PopularityRanker().fit(training.item_ids, training.relevant).score(items)
    ranks = lambda x: np.argsort(np.argsort(x))  # noqa: E731 - Spearman = Pearson of ranks
    assert np.corrcoef(ranks(scores), ranks(positives))[0, 1] > 0.5


def test_build_writes_a_loadable_versioned_entry(built: tuple[ModelBuild, Path, Path]) -> None:
    build, repo, _ = built
    assert (build.name, build.version, build.path) == ("recs", 1, repo / "recs" / "1")
    assert not build.from_cache
    assert {p.name for p in build.path.iterdir()} == {"model.pt", "model.py", "metadata.json"}
    metadata = json.loads((build.path / "metadata.json").read_text())
    assert metadata["context_names"] == list(CONTEXT_NAMES)
    assert (metadata["n_user_buckets"], metadata["n_item_buckets"]) == (N_USER_BUCKETS, N_ITEM_BUCKETS)
    assert [i["name"] for i in metadata["inputs"]] == ["user_bucket", "item_bucket", "context"]
    assert metadata["metrics"]["test"] == build.metrics["test"] and metadata["model_sha256"] == build.sha256
    config = (repo / "recs" / "config.pbtxt").read_text()
    for expected in ('name: "recs"', 'backend: "python"', f"max_batch_size: {MAX_BATCH_ROWS}",
                     'name: "user_bucket"', 'name: "item_bucket"', "TYPE_INT64", 'name: "context"',
                     f"dims: [ {len(CONTEXT_NAMES)} ]", 'name: "score"', "TYPE_FP32"):
        assert expected in config
    assert config.index("user_bucket") < config.index("item_bucket") < config.index('"context"')
    libtorch = triton_repo.render_config("recs", list(INPUTS), [OUTPUT], backend="libtorch")
    assert 'platform: "pytorch_libtorch"' in libtorch and 'name: "user_bucket"' in libtorch


def test_second_build_reuses_the_cache_and_bumps_the_version(built: tuple[ModelBuild, Path, Path]) -> None:
    first, repo, cache = built
    second = build_recs_model(repo, cache_dir=cache, seed=5, settings=SMALL)
    assert second.from_cache and second.version == 2 and second.sha256 == first.sha256
    with pytest.raises(FileExistsError):
        build_recs_model(repo, version=1, cache_dir=cache, seed=5, settings=SMALL)


def test_python_backend_serves_the_recs_model(built: tuple[ModelBuild, Path, Path], events: list[dict],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    build = built[0]
    config = {"input": [spec.to_json() for spec in INPUTS], "output": [OUTPUT.to_json()]}
    served, pb_utils = served_model(build.path, config, monkeypatch)
    batches = [request_tensors(events[i:j], 500)[0] for i, j in ((0, 1), (1, 5), (5, 12))]
    responses = served.execute([request(pb_utils, **inputs) for inputs in batches])
    for response, inputs in zip(responses, batches):
        assert response.error is None
        (tensor,) = response.output_tensors
        np.testing.assert_allclose(tensor.array, score_in_process(build.path / "model.pt", inputs), atol=1e-6)
