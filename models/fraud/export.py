"""Build the fraud model into a Triton model repository, training only when needed."""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from models import triton_repo
from models.build_cache import ModelBuild, cached_or_trained, default_cache_dir
from models.fraud.features import CATEGORICAL_COLUMNS, FEATURE_NAMES
from models.fraud.schema import SCHEMA_VERSION
from models.fraud.train import train_fraud_model
from models.torchscript import load_torchscript, score_in_process, sha256_hex

__all__ = ["MODEL_NAME", "ModelBuild", "build_fraud_model", "default_cache_dir", "load_torchscript", "score_in_process"]

MODEL_NAME = "fraud"
INPUT = triton_repo.TensorSpec("features", (len(FEATURE_NAMES),))  # = FraudNet.forward's argument name
OUTPUT = triton_repo.TensorSpec("score", (1,))
_PACKAGE_DIR = Path(__file__).resolve().parent
#: Modules of the package that no training run reads (the serving plugin and its record encoder, the
#: Kafka producer, test and benchmark events): editing them must not retrain the model.
_NOT_TRAINING = frozenset({"pipeline.py", "scores.py", "stream.py", "sample_events.py"})


def training_fingerprint(seed: int, n_events: int, epochs: int) -> str:
    """Hash of everything that determines the trained artifact: code, settings, torch version."""
    digest = hashlib.sha256(f"{seed}:{n_events}:{epochs}:{torch.__version__}".encode())
    sources = sorted(p for p in _PACKAGE_DIR.glob("*.py") if p.name not in _NOT_TRAINING)
    sources.append(_PACKAGE_DIR.parent / "metrics.py")
    for source in sources:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _cached_or_trained(cache_dir: Path, seed: int, n_events: int, epochs: int,
                       force: bool) -> tuple[bytes, dict[str, Any], str, bool]:
    fingerprint = training_fingerprint(seed, n_events, epochs)
    torchscript, metrics, from_cache = cached_or_trained(
        cache_dir, MODEL_NAME, fingerprint, lambda: train_fraud_model(seed=seed, n_events=n_events, epochs=epochs),
        force,
    )
    return torchscript, metrics, fingerprint, from_cache


def build_fraud_model(repo_dir: Path, version: int | None = None, cache_dir: Path | None = None, force: bool = False,
                      *, seed: int = 7, n_events: int = 200_000, epochs: int = 6,
                      backend: triton_repo.Backend = "python") -> ModelBuild:
    """Train (or reuse a cached artifact) and export the fraud model as a new Triton version.

    Args:
        repo_dir: Triton model repository root.
        version: Version to write; None means one above the highest existing version.
        cache_dir: Artifact cache; defaults to :func:`default_cache_dir`.
        force: Retrain even if cached, and overwrite ``version`` if it exists.
        seed: Training seed.
        n_events: Training stream length.
        epochs: Training epochs.
        backend: Which ``config.pbtxt`` variant to write (the version files are identical).

    Returns:
        What was built and where.
    """
    model_dir = Path(repo_dir) / MODEL_NAME
    torchscript, metrics, fingerprint, from_cache = _cached_or_trained(
        Path(cache_dir) if cache_dir else default_cache_dir(), seed, n_events, epochs, force
    )
    version = triton_repo.next_version(model_dir) if version is None else version
    metadata = {
        "name": MODEL_NAME,
        "schema_version": SCHEMA_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "categorical_columns": {str(k): v for k, v in CATEGORICAL_COLUMNS.items()},
        "input": INPUT.to_json(),
        "output": OUTPUT.to_json(),
        "metrics": metrics,
        "seed": seed,
        "n_events": n_events,
        "epochs": epochs,
        "training_fingerprint": fingerprint,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
    }
    path = triton_repo.write_model_version(model_dir, version, torchscript, metadata, overwrite=force)
    triton_repo.write_config(model_dir, [INPUT], [OUTPUT], backend=backend)
    return ModelBuild(MODEL_NAME, version, path, metrics, sha256_hex(torchscript), from_cache)


def main() -> None:
    """Command line: build into a repository and print the build as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, required=True, help="Triton model repository root")
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--backend", choices=["python", "libtorch"], default="python")
    args = parser.parse_args()
    build = build_fraud_model(args.repo, args.version, args.cache_dir, args.force, backend=args.backend)
    print(json.dumps({**asdict(build), "path": str(build.path)}, indent=2))


if __name__ == "__main__":
    main()
