"""The generic python-backend wrapper (models/triton_python_model.py) with several typed inputs.

The fraud and recs tests serve their real models through it; this one uses a tiny scripted module
whose output shows exactly which rows and dtypes reached ``forward``, in which argument order.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from models import triton_repo
from models.torchscript import to_torchscript_bytes
from tests.unit.triton_stub_fakes import request, served_model


class _Probe(nn.Module):
    """score = 1000 * a[:, 0] + 10 * b[:, 1] + c.sum(1): wrong order or rows change the value."""

    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # Only these dtypes pass: the wrapper must feed each input as configured.
        assert a.dtype == torch.int64 and b.dtype == torch.int32 and c.dtype == torch.float32
        return (1000 * a[:, 0].to(torch.float32) + 10 * b[:, 1].to(torch.float32) + c.sum(1)).unsqueeze(1)


INPUTS = [triton_repo.TensorSpec("a", (1,), "TYPE_INT64"), triton_repo.TensorSpec("b", (2,), "TYPE_INT32"),
          triton_repo.TensorSpec("c", (3,), "TYPE_FP32")]
OUTPUT = triton_repo.TensorSpec("score", (1,))


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("repo") / "probe"
    return triton_repo.write_model_version(model_dir, 1, to_torchscript_bytes(_Probe()), {})


def _config(**parameters: str) -> dict:
    config = {"input": [s.to_json() for s in INPUTS], "output": [OUTPUT.to_json()]}
    if parameters:
        config["parameters"] = {k: {"string_value": v} for k, v in parameters.items()}
    return config


def _arrays(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {"a": rng.integers(0, 9, (n, 1)).astype(np.int64), "b": rng.integers(0, 9, (n, 2)).astype(np.int32),
            "c": rng.random((n, 3), dtype=np.float32)}


def _expected(arrays: dict[str, np.ndarray]) -> np.ndarray:
    return (1000 * arrays["a"][:, 0] + 10 * arrays["b"][:, 1] + arrays["c"].sum(1)).astype(np.float32)[:, None]


def test_every_input_is_concatenated_and_passed_in_config_order(version_dir, monkeypatch) -> None:
    served, pb_utils = served_model(version_dir, _config(), monkeypatch)  # warm-up ran with typed zeros
    rng = np.random.default_rng(0)
    batches = [_arrays(rng, n) for n in (3, 1, 0, 7)]
    responses = served.execute([request(pb_utils, **arrays) for arrays in batches])
    assert len(responses) == 4
    for response, arrays in zip(responses, batches):
        assert response.error is None
        (tensor,) = response.output_tensors
        assert tensor.name == "score" and tensor.array.dtype == np.float32
        np.testing.assert_allclose(tensor.array, _expected(arrays), rtol=1e-6)


@pytest.mark.parametrize(("broken", "message"), [
    ({"a": None}, "missing input 'a'"),
    ({"b": np.zeros((2, 3), np.int32)}, "'b' must be [N, 2], got [2, 3]"),
    ({"c": np.zeros(2, np.float32)}, "'c' must be [N, 3], got [2]"),
    ({"c": np.zeros((3, 3), np.float32)}, "same number of rows"),
])
def test_a_malformed_request_gets_an_error_and_the_others_are_served(version_dir, monkeypatch, broken,
                                                                     message) -> None:
    served, pb_utils = served_model(version_dir, _config(), monkeypatch)
    rng = np.random.default_rng(1)
    good, bad = _arrays(rng, 4), _arrays(rng, 2)
    for name, array in broken.items():
        if array is None:
            del bad[name]
        else:
            bad[name] = array
    responses = served.execute([request(pb_utils, **bad), request(pb_utils, **good)])
    assert message in responses[0].error and responses[0].output_tensors == []
    np.testing.assert_allclose(responses[1].output_tensors[0].array, _expected(good), rtol=1e-6)


def test_unsupported_input_type_fails_at_load(version_dir, monkeypatch) -> None:
    config = _config()
    config["input"][0]["data_type"] = "TYPE_STRING"
    with pytest.raises(ValueError, match="unsupported data_type TYPE_STRING"):
        served_model(version_dir, config, monkeypatch)


def test_execute_delay_drill_parameter_is_kept(version_dir, monkeypatch) -> None:
    served, pb_utils = served_model(version_dir, _config(execute_delay_ms="150"), monkeypatch)
    started = time.perf_counter()
    served.execute([request(pb_utils, **_arrays(np.random.default_rng(2), 1))])
    assert time.perf_counter() - started >= 0.15
