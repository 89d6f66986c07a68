"""Write versioned entries of a Triton model repository (generic, not fraud-specific).

Layout::

    <repo>/<name>/config.pbtxt
    <repo>/<name>/<version>/model.pt        TorchScript (identical for both backends)
    <repo>/<name>/<version>/model.py        python-backend wrapper (ignored by libtorch)
    <repo>/<name>/<version>/metadata.json   what the engine needs to know about the version
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.torchscript import sha256_hex

Backend = Literal["python", "libtorch"]

#: The self-contained python-backend model, copied into every version directory.
PYTHON_BACKEND_SOURCE = Path(__file__).with_name("triton_python_model.py")
TORCHSCRIPT_FILENAME = "model.pt"
METADATA_FILENAME = "metadata.json"


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as declared in ``config.pbtxt``.

    Attributes:
        name: Tensor name. For libtorch, an input name must equal the TorchScript
            ``forward`` argument name; a single output may have any name (Triton then
            maps outputs by order). Older Triton releases required ``<name>__<index>``.
        dims: Shape without the batch dimension.
        data_type: Triton data type.
    """

    name: str
    dims: tuple[int, ...]
    data_type: str = "TYPE_FP32"

    def to_pbtxt(self) -> str:
        """Render as a ``config.pbtxt`` tensor block."""
        dims = ", ".join(str(d) for d in self.dims)
        return f'  {{\n    name: "{self.name}"\n    data_type: {self.data_type}\n    dims: [ {dims} ]\n  }}'

    def to_json(self) -> dict[str, Any]:
        """Render as plain JSON (for metadata files)."""
        return {"name": self.name, "dims": list(self.dims), "data_type": self.data_type}


def render_config(name: str, inputs: list[TensorSpec], outputs: list[TensorSpec], backend: Backend = "python",
                  max_batch_size: int = 8192, max_queue_delay_us: int = 500, instance_kind: str | None = None,
                  instance_count: int = 1) -> str:
    """Render a ``config.pbtxt`` with dynamic batching and every version loadable.

    Args:
        name: Model name (must equal the directory name).
        inputs: Input tensors.
        outputs: Output tensors.
        backend: ``"python"`` (CPU, runs ``model.py``) or ``"libtorch"`` (NVIDIA's
            PyTorch backend, loads ``model.pt`` directly).
        max_batch_size: Largest batch Triton may form.
        max_queue_delay_us: How long a request may wait for others to batch with.
        instance_kind: ``KIND_CPU`` or ``KIND_GPU``; defaults to CPU for python and GPU
            for libtorch.
        instance_count: Model instances per device.

    Returns:
        The config text.
    """
    if backend == "python":
        runtime = 'backend: "python"'
        kind = instance_kind or "KIND_CPU"
    elif backend == "libtorch":
        runtime = f'platform: "pytorch_libtorch"\ndefault_model_filename: "{TORCHSCRIPT_FILENAME}"'
        kind = instance_kind or "KIND_GPU"
    else:
        raise ValueError(f"unknown backend {backend!r}")
    blocks = [
        f'name: "{name}"',
        runtime,
        f"max_batch_size: {max_batch_size}",
        "version_policy: { all: {} }",
        "input [\n" + ",\n".join(t.to_pbtxt() for t in inputs) + "\n]",
        "output [\n" + ",\n".join(t.to_pbtxt() for t in outputs) + "\n]",
        f"dynamic_batching {{\n  max_queue_delay_microseconds: {max_queue_delay_us}\n}}",
        f"instance_group [\n  {{\n    kind: {kind}\n    count: {instance_count}\n  }}\n]",
    ]
    return "\n".join(blocks) + "\n"


def _write_atomically(path: Path, data: bytes) -> None:
    # Triton may poll the repository at any moment; never let it read a half-written file.
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_bytes(data)
    os.replace(staging, path)


def write_config(model_dir: Path, inputs: list[TensorSpec], outputs: list[TensorSpec],
                 backend: Backend = "python", **options: Any) -> Path:
    """Write ``<model_dir>/config.pbtxt`` (the model name is the directory name).

    Args:
        model_dir: ``<repo>/<name>``.
        inputs: Input tensors.
        outputs: Output tensors.
        backend: ``"python"`` or ``"libtorch"``.
        **options: Passed to :func:`render_config`.

    Returns:
        The config path.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / "config.pbtxt"
    _write_atomically(path, render_config(model_dir.name, inputs, outputs, backend, **options).encode())
    return path


def existing_versions(model_dir: Path) -> list[int]:
    """Version numbers present under a model directory, ascending."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir: Path) -> int:
    """The version number after the highest existing one (1 for a new model)."""
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def write_model_version(model_dir: Path, version: int, torchscript: bytes, metadata: dict[str, Any],
                        overwrite: bool = False) -> Path:
    """Write one version directory: TorchScript, python-backend wrapper and metadata.

    The directory is assembled under a hidden name and renamed into place, so a
    polling Triton sees either no version or a complete one.

    Args:
        model_dir: ``<repo>/<name>``.
        version: Version number (>= 1).
        torchscript: Bytes of the TorchScript archive.
        metadata: Extra metadata; ``version`` and ``model_sha256`` are added.
        overwrite: Replace an existing version instead of failing.

    Returns:
        The version directory.

    Raises:
        FileExistsError: If the version exists and ``overwrite`` is False.
    """
    if version < 1:
        raise ValueError(f"Triton versions start at 1, got {version}")
    target = model_dir / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists")
    staging = model_dir / f".staging-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / TORCHSCRIPT_FILENAME).write_bytes(torchscript)
    shutil.copyfile(PYTHON_BACKEND_SOURCE, staging / "model.py")
    full_metadata = {**metadata, "version": version, "model_sha256": sha256_hex(torchscript)}
    (staging / METADATA_FILENAME).write_text(json.dumps(full_metadata, indent=2, sort_keys=True) + "\n")
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target
