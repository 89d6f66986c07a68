"""A plugin's named tensors as a Triton gRPC request, and Triton's named outputs back as arrays.

``tritonclient.grpc`` and ``tritonclient.grpc.aio`` share these classes, so blocking peers (naive, the
Triton ceiling) and asyncio ones (faust) build requests the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import np_to_triton_dtype

from engine.pipeline.contract import ModelInputs


def infer_inputs(inputs: ModelInputs, names: Sequence[str]) -> list[grpcclient.InferInput]:
    """One ``InferInput`` per name, typed from the array's numpy dtype (FP32, INT64...).

    Raises:
        KeyError: If the plugin's ``encode`` did not fill one of ``names``.
    """
    out = []
    for name in names:
        array = np.ascontiguousarray(inputs.tensors[name])
        tensor = grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array)
        out.append(tensor)
    return out


def requested_outputs(names: Sequence[str]) -> list[grpcclient.InferRequestedOutput]:
    """The outputs to ask for: the plugin's ``model_outputs``."""
    return [grpcclient.InferRequestedOutput(name) for name in names]


def outputs_of(result: Any, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Triton's named outputs as arrays, as a plugin's ``records`` takes them."""
    return {name: result.as_numpy(name) for name in names}
