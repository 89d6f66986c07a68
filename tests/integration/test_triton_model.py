"""A TorchScript model served by the real Triton returns what torch computes in-process."""

from __future__ import annotations

import numpy as np
import tritonclient.grpc as grpcclient

from models.fraud.features import FraudFeatures
from models.fraud.generator import FraudGenerator
from models.torchscript import load_torchscript, score_in_process


def test_triton_scores_equal_torch_in_process(fraud_model, triton_grpc_url) -> None:
    events, _ = FraudGenerator(seed=5).batch(2048)
    features = FraudFeatures().extract(events)
    client = grpcclient.InferenceServerClient(triton_grpc_url)
    tensor = grpcclient.InferInput("features", list(features.shape), "FP32")
    tensor.set_data_from_numpy(features)
    result = client.infer("fraud", [tensor], outputs=[grpcclient.InferRequestedOutput("score")])
    served = result.as_numpy("score")
    expected = score_in_process(load_torchscript(fraud_model / "model.pt"), features)
    assert served.shape == (2048, 1) and served.dtype == np.float32
    assert np.max(np.abs(served - expected)) <= 1e-6
    assert result.get_response().model_version == fraud_model.name


def test_triton_reports_a_wrong_shape_as_an_error(fraud_model, triton_grpc_url) -> None:
    client = grpcclient.InferenceServerClient(triton_grpc_url)
    wrong = np.zeros((4, 3), dtype=np.float32)
    tensor = grpcclient.InferInput("features", list(wrong.shape), "FP32")
    tensor.set_data_from_numpy(wrong)
    try:
        client.infer("fraud", [tensor])
    except Exception as exc:  # noqa: BLE001 — the point is that it raises, with a reason
        assert "shape" in str(exc).lower() or "dims" in str(exc).lower(), str(exc)
    else:
        raise AssertionError("a wrong input shape must be rejected by Triton")
