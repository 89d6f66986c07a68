"""Build the recs ranker into a Triton model repository, training only when needed."""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from models import triton_repo
from models.build_cache import ModelBuild, cached_or_trained, default_cache_dir
from models.recs.constants import (
    CONTEXT_NAMES,
    DEVICES,
    ITEM_SALT,
    N_ITEM_BUCKETS,
    N_USER_BUCKETS,
    SCHEMA_VERSION,
    SURFACES,
    USER_SALT,
)
from models.recs.train import TrainSettings, train_recs_model
from models.torchscript import load_torchscript, sha256_hex

__all__ = [
    "INPUTS", "MAX_BATCH_ROWS", "MODEL_NAME", "OUTPUT", "ModelBuild", "build_recs_model", "score_in_process",
]

MODEL_NAME = "recs"
#: In RecsRanker.forward's argument order (the python backend passes them positionally,
#: libtorch maps them by name).
INPUTS = (
    triton_repo.TensorSpec("user_bucket", (1,), "TYPE_INT64"),
    triton_repo.TensorSpec("item_bucket", (1,), "TYPE_INT64"),
    triton_repo.TensorSpec("context", (len(CONTEXT_NAMES),), "TYPE_FP32"),
)
OUTPUT = triton_repo.TensorSpec("score", (1,))
#: Triton's batch dimension counts rows, i.e. (request, candidate) pairs: the recs
#: pipeline's 256 requests x 500 candidates (compose/pipelines/recs.yaml) must fit in one call.
MAX_BATCH_ROWS = 131_072
_PACKAGE_DIR = Path(__file__).resolve().parent
#: Modules training never imports (serving plugin, feedback simulator, drift evaluation): editing them
#: must not retrain the model. Subpackages (``learning/``: the learner side and its studies) are not hashed.
_SERVING_ONLY = frozenset({"pipeline.py", "topk.py", "drift_eval.py", "feedback_sim.py"})


def training_fingerprint(seed: int, settings: TrainSettings) -> str:
    """Hash of everything that determines the trained artifact: code, settings, torch version."""
    settings_json = json.dumps(asdict(settings), sort_keys=True)
    digest = hashlib.sha256(f"{seed}:{settings_json}:{torch.__version__}".encode())
    for source in sorted(p for p in _PACKAGE_DIR.glob("*.py") if p.name not in _SERVING_ONLY):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def build_recs_model(repo_dir: Path, version: int | None = None, cache_dir: Path | None = None,
                     force: bool = False, *, seed: int = 7, backend: triton_repo.Backend = "python",
                     settings: TrainSettings | None = None) -> ModelBuild:
    """Train (or reuse a cached artifact) and export the recs ranker as a new Triton version.

    Args:
        repo_dir: Triton model repository root.
        version: Version to write; None means one above the highest existing version.
        cache_dir: Artifact cache; defaults to :func:`models.build_cache.default_cache_dir`.
        force: Retrain even if cached, and overwrite ``version`` if it exists.
        seed: Seed of the world, the stream and the training.
        backend: Which ``config.pbtxt`` variant to write (the version files are identical).
        settings: Training sizes and hyperparameters; None means ``TrainSettings()``.

    Returns:
        What was built and where.
    """
    settings = settings or TrainSettings()
    fingerprint = training_fingerprint(seed, settings)
    torchscript, metrics, from_cache = cached_or_trained(
        Path(cache_dir) if cache_dir else default_cache_dir(), MODEL_NAME, fingerprint,
        lambda: train_recs_model(seed=seed, settings=settings), force,
    )
    model_dir = Path(repo_dir) / MODEL_NAME
    version = triton_repo.next_version(model_dir) if version is None else version
    metadata = {
        "name": MODEL_NAME,
        "schema_version": SCHEMA_VERSION,
        "inputs": [spec.to_json() for spec in INPUTS],
        "output": OUTPUT.to_json(),
        "context_names": list(CONTEXT_NAMES),
        "devices": list(DEVICES),
        "surfaces": list(SURFACES),
        "n_user_buckets": N_USER_BUCKETS,
        "n_item_buckets": N_ITEM_BUCKETS,
        "user_salt": USER_SALT,
        "item_salt": ITEM_SALT,
        "max_batch_size": MAX_BATCH_ROWS,
        "hashing": "fnv1a64 over code points + splitmix64, models.recs.hashing.bucket_ids",
        "metrics": metrics,
        "seed": seed,
        "settings": asdict(settings),
        "training_fingerprint": fingerprint,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
    }
    path = triton_repo.write_model_version(model_dir, version, torchscript, metadata, overwrite=force)
    triton_repo.write_config(model_dir, list(INPUTS), [OUTPUT], backend=backend, max_batch_size=MAX_BATCH_ROWS)
    return ModelBuild(MODEL_NAME, version, path, metrics, sha256_hex(torchscript), from_cache)


def score_in_process(model: Path | str | torch.nn.Module, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Reference scoring without Triton: what the served model must return.

    Args:
        model: Path of a ``model.pt``, or an eager or scripted ranker.
        inputs: The ``inputs`` of :func:`models.recs.features.request_tensors`.

    Returns:
        float32 [R, 1], the same shape as Triton's ``score`` output.
    """
    module = model if isinstance(model, torch.nn.Module) else load_torchscript(model)
    tensors = [torch.from_numpy(np.ascontiguousarray(inputs[spec.name])) for spec in INPUTS]
    with torch.inference_mode():
        scores = module(*tensors)
    return scores.numpy().astype(np.float32, copy=False).reshape(-1, 1)


def main() -> None:
    """Command line: build into a repository and print the build as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, required=True, help="Triton model repository root")
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backend", choices=["python", "libtorch"], default="python")
    args = parser.parse_args()
    build = build_recs_model(args.repo, args.version, args.cache_dir, args.force, seed=args.seed,
                             backend=args.backend)
    print(json.dumps({**asdict(build), "path": str(build.path)}, indent=2))


if __name__ == "__main__":
    main()
