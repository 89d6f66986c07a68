"""TorchScript helpers shared by exporters, tests and in-process reference scoring."""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn


@contextmanager
def _torchscript_api() -> Iterator[None]:
    # Recent torch marks the TorchScript Python API deprecated (FutureWarning), but
    # Triton's libtorch backend still loads only TorchScript, so we use it on purpose.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.*")
        yield


def to_torchscript_bytes(model: nn.Module) -> bytes:
    """Script a model in eval mode and serialise it.

    Args:
        model: The eager model; it is switched to eval mode.

    Returns:
        The bytes of a TorchScript archive (what Triton loads as ``model.pt``).
    """
    model.eval()
    buffer = io.BytesIO()
    with _torchscript_api():
        torch.jit.save(torch.jit.script(model), buffer)
    return buffer.getvalue()


def sha256_hex(data: bytes) -> str:
    """SHA-256 of some bytes, hex encoded."""
    return hashlib.sha256(data).hexdigest()


def load_torchscript(path: Path | str) -> torch.jit.ScriptModule:
    """Load a TorchScript file on CPU in eval mode, as the Triton python backend does.

    Args:
        path: Path to ``model.pt``.

    Returns:
        The scripted module.
    """
    with _torchscript_api():
        model = torch.jit.load(str(path), map_location="cpu")
    return model.eval()


def score_in_process(model: nn.Module | torch.jit.ScriptModule, features: np.ndarray) -> np.ndarray:
    """Reference scoring without Triton: what the served model must return.

    Args:
        model: Eager or scripted model.
        features: float32 [N, F].

    Returns:
        float32 [N, 1], the same shape as Triton's ``score`` output.
    """
    batch = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    with torch.inference_mode():
        return model(batch).numpy().astype(np.float32, copy=False).reshape(len(features), 1)
