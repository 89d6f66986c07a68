"""Triton python-backend model that serves a TorchScript file on CPU.

This file is copied verbatim into ``<repo>/<name>/<version>/model.py``. It runs in
Triton's stub process, where only torch, numpy and ``triton_python_backend_utils`` are
importable, so it must stay self-contained (no imports from this project). Input and
output names, data types and widths are read from the model's ``config.pbtxt``; every
input is 2-D ``[N, width]`` and goes to the TorchScript ``forward`` positionally, in
config order (fraud: one FP32 ``features``; recs: INT64 ``user_bucket``, INT64
``item_bucket``, FP32 ``context``).
"""

import json
import os
import sys
import time
import warnings

# The stub's embedded interpreter ignores PYTHONPATH; the server hands over the site-packages that
# hold torch and numpy in this variable (NVIDIA's container has them in the default path already).
for _path in reversed(os.environ.get("STREAMINFER_TRITON_SITE_PACKAGES", "").split(os.pathsep)):
    if _path and _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402 — after the path hook on purpose
import torch  # noqa: E402
from torch.utils.dlpack import from_dlpack, to_dlpack  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

_WARMUP_BATCH_SIZES = (1, 64, 1024)
# The config data types this wrapper can feed to a TorchScript model.
_TORCH_DTYPES = {"TYPE_FP32": torch.float32, "TYPE_INT64": torch.int64, "TYPE_INT32": torch.int32}


class TritonPythonModel:
    """Scores each dynamic batch in one TorchScript call and splits results per request."""

    def initialize(self, args):
        """Load ``model.pt`` of this version and warm it up.

        Args:
            args: Triton's initialise arguments (``model_config`` JSON, ``model_repository``,
                ``model_version``, ...).
        """
        config = json.loads(args["model_config"])
        self._inputs = []  # (name, torch dtype, width), in config order = forward's argument order
        for spec in config["input"]:
            data_type = spec.get("data_type", "TYPE_FP32")
            if data_type not in _TORCH_DTYPES:
                raise ValueError(f"input '{spec['name']}' has unsupported data_type {data_type}")
            self._inputs.append((spec["name"], _TORCH_DTYPES[data_type], int(spec["dims"][-1])))
        self._output_name = config["output"][0]["name"]
        # A drill knob, never set by a shipped config: a model that answers slowly, so back-pressure
        # can be tested against a real server (config.pbtxt `parameters` key "execute_delay_ms").
        delay = config.get("parameters", {}).get("execute_delay_ms", {}).get("string_value", "0")
        self._execute_delay_s = float(delay) / 1000.0
        # One intra-op thread per instance: scale with instance_group count instead,
        # so instances do not fight over cores.
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set, or parallel work already started
            pass
        path = os.path.join(args["model_repository"], str(args["model_version"]), "model.pt")
        if not os.path.exists(path):  # some Triton releases pass the model.py path instead
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.pt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript API deprecation notice
            self._model = torch.jit.load(path, map_location="cpu").eval()
        # The first calls of a TorchScript module profile and optimise its graph; pay
        # that before traffic arrives rather than on the first live requests.
        with torch.inference_mode():
            for size in _WARMUP_BATCH_SIZES:
                for _ in range(2):
                    self._model(*[torch.zeros(size, width, dtype=dtype) for _, dtype, width in self._inputs])

    def execute(self, requests):
        """Score a list of requests (one dynamic batch).

        Args:
            requests: ``pb_utils.InferenceRequest`` objects, each carrying every configured
                input as ``[n_i, width]`` (the same ``n_i`` for all of a request's inputs).

        Returns:
            One ``pb_utils.InferenceResponse`` per request, in order: ``score`` ``[n_i, 1]``
            float32, or an error for a malformed request (the others are still served).
        """
        if self._execute_delay_s:
            time.sleep(self._execute_delay_s)
        columns = [[] for _ in self._inputs]  # per input, the valid requests' tensors
        rows, errors = {}, {}
        for position, request in enumerate(requests):
            tensors, error = self._read_request(request)
            if error is not None:
                errors[position] = error
                continue
            for column, tensor in zip(columns, tensors):
                column.append(tensor)
            rows[position] = tensors[0].shape[0]
        scores = self._score(columns)

        responses, offset = [], 0
        for position in range(len(requests)):
            if position in errors:
                error = pb_utils.TritonError(errors[position])
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
                continue
            part = scores[offset:offset + rows[position]].contiguous()
            offset += rows[position]
            output = pb_utils.Tensor.from_dlpack(self._output_name, to_dlpack(part))
            responses.append(pb_utils.InferenceResponse(output_tensors=[output]))
        return responses

    def _read_request(self, request):
        """A request's input tensors in config order, or (None, the reason it is malformed)."""
        tensors = []
        for name, _, width in self._inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                return None, f"missing input '{name}'"
            # DLPack, not as_numpy(): the stub's numpy bridge was built against numpy 1.x and
            # mis-sizes arrays under numpy 2 (outputs came back empty); DLPack is ABI-stable.
            array = from_dlpack(tensor.to_dlpack())
            if array.dim() != 2 or array.shape[1] != width:
                return None, f"'{name}' must be [N, {width}], got {list(array.shape)}"
            tensors.append(array)
        if any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            shapes = ", ".join(f"'{name}' {list(t.shape)}" for (name, _, _), t in zip(self._inputs, tensors))
            return None, f"inputs must have the same number of rows, got {shapes}"
        return tensors, None

    def _score(self, columns):
        if not columns[0]:
            return torch.zeros((0, 1), dtype=torch.float32)
        # One concatenated call amortises per-call overhead over the whole dynamic batch;
        # cat also copies, so the request buffers are never written to.
        batch = [torch.cat(column, dim=0).to(dtype) for column, (_, dtype, _) in zip(columns, self._inputs)]
        with torch.inference_mode():
            scores = self._model(*batch)
        return scores.reshape(-1, 1).to(torch.float32).contiguous().clone()

    def finalize(self):
        """Release the model when Triton unloads this version."""
        self._model = None
