"""A stand-in for Triton's python-backend stub, to run ``models/triton_python_model.py`` in-process.

Used by the fraud, recs and generic served-model tests: a fake ``triton_python_backend_utils`` with the
slice of its API that model.py uses (DLPack tensor I/O, responses, errors), and a loader that imports a
version directory's ``model.py`` the way the stub does and initialises it from a config dict.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.utils.dlpack


def fake_pb_utils() -> types.ModuleType:
    """The slice of ``triton_python_backend_utils`` that model.py uses (numpy and DLPack I/O)."""

    class Tensor:
        def __init__(self, name: str, array: np.ndarray) -> None:
            self.name, self.array = name, array

        def as_numpy(self) -> np.ndarray:
            return self.array

        def to_dlpack(self) -> object:
            return torch.utils.dlpack.to_dlpack(torch.from_numpy(self.array))

        @classmethod
        def from_dlpack(cls, name: str, capsule: object) -> Tensor:
            return cls(name, torch.utils.dlpack.from_dlpack(capsule).numpy())

    class InferenceResponse:
        def __init__(self, output_tensors: list[Tensor], error: object = None) -> None:
            self.output_tensors, self.error = output_tensors, error

    module = types.ModuleType("triton_python_backend_utils")
    module.Tensor = Tensor
    module.InferenceResponse = InferenceResponse
    module.TritonError = lambda message: message
    module.get_input_tensor_by_name = lambda request, name: request.get(name)
    return module


def served_model(version_dir: Path, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """Import ``<version_dir>/model.py`` under the fake stub and initialise it.

    Args:
        version_dir: ``<repo>/<name>/<version>`` holding ``model.py`` and ``model.pt``.
        config: The model config as Triton hands it over (``input``/``output`` lists, ...).
        monkeypatch: Installs the fake module for this test only.

    Returns:
        (the initialised ``TritonPythonModel``, the fake ``pb_utils`` module for building requests).
    """
    pb_utils = fake_pb_utils()
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", pb_utils)
    spec = importlib.util.spec_from_file_location(f"served_model_{version_dir.parent.name}", version_dir / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    served = module.TritonPythonModel()
    served.initialize({"model_config": json.dumps(config), "model_repository": str(version_dir.parent),
                       "model_version": version_dir.name})
    return served, pb_utils


def request(pb_utils: Any, **arrays: np.ndarray) -> dict[str, Any]:
    """One fake inference request carrying the given named input arrays."""
    return {name: pb_utils.Tensor(name, array) for name, array in arrays.items()}
