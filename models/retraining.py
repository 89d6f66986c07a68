"""What every model's retrain shares: the parent version, the time split and writing version N+1.

A retrain (``models/<pipeline>/retrain.py``) learns from records that came back from the stream instead
of from a synthetic world; it writes a new version next to the existing ones and never replaces one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from models import triton_repo
from models.build_cache import ModelBuild
from models.torchscript import load_torchscript, sha256_hex


def parent_version(model_dir: Path, requested: int | None = None) -> int | None:
    """The version a retrain starts from and is compared with: ``requested``, else the newest on disk.

    The newest version stands in for the champion: which version serves is the rollout plan's business
    (on Kafka), not the repository's.

    Raises:
        FileNotFoundError: ``requested`` is not in the repository.
    """
    versions = triton_repo.existing_versions(model_dir)
    if requested is None:
        return versions[-1] if versions else None
    if requested not in versions:
        raise FileNotFoundError(f"{model_dir} has no version {requested} (versions: {versions})")
    return requested


def load_parent(model_dir: Path, version: int | None) -> torch.jit.ScriptModule | None:
    """The parent's TorchScript module (CPU, eval mode), or None without a parent."""
    if version is None:
        return None
    return load_torchscript(model_dir / str(version) / triton_repo.TORCHSCRIPT_FILENAME)


def time_split(n: int, test_fraction: float) -> int:
    """Index of the first held-out example of ``n`` time-ordered ones (the newest ``test_fraction``).

    Raises:
        ValueError: The split leaves either side empty.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    split = int(round(n * (1.0 - test_fraction)))
    if split < 1 or split >= n:
        raise ValueError(f"{n} examples cannot be split {1 - test_fraction:.0%} / {test_fraction:.0%}")
    return split


def trained_from(provenance: Mapping[str, Any] | None, **counts: int) -> dict[str, Any]:
    """The ``trained_from`` metadata block: where the records came from (``source``, ``topics``, from the
    caller) and how many there were (the retrain's own counts win over the caller's)."""
    block: dict[str, Any] = {"source": "records", "topics": []}
    block.update(provenance or {})
    block.update(counts)
    return block


def write_retrained(model_dir: Path, torchscript: bytes, metadata: dict[str, Any], *,
                    inputs: list[triton_repo.TensorSpec], outputs: list[triton_repo.TensorSpec],
                    **config: Any) -> ModelBuild:
    """Write ``torchscript`` as the version after the newest one; never touches an existing version.

    ``config.pbtxt`` is written only for a model the repository does not have yet, so a retrain keeps
    the backend (python or libtorch) and batching the repository was set up with.

    Args:
        model_dir: ``<repo>/<name>``.
        torchscript: The new model's TorchScript bytes.
        metadata: Its metadata (``created_at`` and ``torch_version`` are added).
        inputs: Input tensors, for a new ``config.pbtxt``.
        outputs: Output tensors, likewise.
        **config: Passed to :func:`models.triton_repo.write_config` for a new model.

    Returns:
        The build (``from_cache`` False: a retrain always trains).

    Raises:
        FileExistsError: Another writer took the version number meanwhile.
    """
    version = triton_repo.next_version(model_dir)
    metadata = {**metadata, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "torch_version": torch.__version__}
    path = triton_repo.write_model_version(model_dir, version, torchscript, metadata, overwrite=False)
    if not (model_dir / "config.pbtxt").exists():
        triton_repo.write_config(model_dir, inputs, outputs, **config)
    return ModelBuild(model_dir.name, version, path, metadata.get("metrics", {}), sha256_hex(torchscript), False)
