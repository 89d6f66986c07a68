"""What every model exporter shares: the build result and a cache of trained artifacts.

Training is the slow part of a build, and it is deterministic given its inputs, so an
artifact is cached under a fingerprint of those inputs (code, settings, torch version)
and later builds only write a new Triton version from the cached bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from models.torchscript import to_torchscript_bytes


@dataclass(frozen=True)
class ModelBuild:
    """Result of a model build (``build_fraud_model``, ``build_recs_model``).

    Attributes:
        name: Triton model name.
        version: Version number written.
        path: The version directory (``<repo>/<name>/<version>``).
        metrics: Offline training metrics.
        sha256: SHA-256 of ``model.pt``.
        from_cache: Whether the artifact came from the cache (no training ran).
    """

    name: str
    version: int
    path: Path
    metrics: dict[str, Any]
    sha256: str
    from_cache: bool


def default_cache_dir() -> Path:
    """``$STREAMINFER_CACHE_DIR`` or ``$XDG_CACHE_HOME/streaminfer/models`` (``~/.cache/...``)."""
    if "STREAMINFER_CACHE_DIR" in os.environ:
        return Path(os.environ["STREAMINFER_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streaminfer" / "models"


def cached_or_trained(cache_dir: Path, model_name: str, fingerprint: str,
                      train: Callable[[], tuple[nn.Module, dict[str, Any]]],
                      force: bool = False) -> tuple[bytes, dict[str, Any], bool]:
    """The TorchScript bytes and metrics of a training run, from the cache or by training.

    Args:
        cache_dir: Cache root; the entry is ``<cache_dir>/<model_name>-<fingerprint[:16]>``.
        model_name: Prefix of the entry name.
        fingerprint: Hash of everything that determines the artifact.
        train: Runs the training: returns the eager model and its metrics.
        force: Train even if the entry exists (and replace it).

    Returns:
        (TorchScript bytes, metrics, whether they came from the cache).
    """
    entry = cache_dir / f"{model_name}-{fingerprint[:16]}"
    model_path, metrics_path = entry / "model.pt", entry / "metrics.json"
    if not force and model_path.exists() and metrics_path.exists():
        return model_path.read_bytes(), json.loads(metrics_path.read_text()), True
    model, metrics = train()
    torchscript = to_torchscript_bytes(model)
    entry.mkdir(parents=True, exist_ok=True)
    # Metrics last: their presence marks a complete cache entry.
    (entry / "model.pt.tmp").write_bytes(torchscript)
    os.replace(entry / "model.pt.tmp", model_path)
    (entry / "metrics.json.tmp").write_text(json.dumps(metrics, indent=2))
    os.replace(entry / "metrics.json.tmp", metrics_path)
    return torchscript, metrics, False
