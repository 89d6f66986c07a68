"""Triton python-backend model that serves a TorchScript file on CPU.

This file is copied verbatim into ``<repo>/<name>/<version>/model.py``. It runs in
Triton's stub process, where only torch, numpy and ``triton_python_backend_utils`` are
importable, so it must stay self-contained (no imports from this project). Input and
output names and the feature count are read from the model's ``config.pbtxt``.
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


class TritonPythonModel:
    """Scores each dynamic batch in one TorchScript call and splits results per request."""

    def initialize(self, args):
        """Load ``model.pt`` of this version and warm it up.

        Args:
            args: Triton's initialise arguments (``model_config`` JSON, ``model_repository``,
                ``model_version``, ...).
        """
        config = json.loads(args["model_config"])
        self._input_name = config["input"][0]["name"]
        self._output_name = config["output"][0]["name"]
        self._n_features = int(config["input"][0]["dims"][-1])
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
                    self._model(torch.zeros(size, self._n_features))

    def execute(self, requests):
        """Score a list of requests (one dynamic batch).

        Args:
            requests: ``pb_utils.InferenceRequest`` objects, each carrying ``[n_i, F]`` float32.

        Returns:
            One ``pb_utils.InferenceResponse`` per request, in order: ``score`` ``[n_i, 1]``
            float32, or an error for a malformed request (the others are still served).
        """
        if self._execute_delay_s:
            time.sleep(self._execute_delay_s)
        tensors, rows, errors = [], {}, {}
        for position, request in enumerate(requests):
            tensor = pb_utils.get_input_tensor_by_name(request, self._input_name)
            if tensor is None:
                errors[position] = f"missing input '{self._input_name}'"
                continue
            # DLPack, not as_numpy(): the stub's numpy bridge was built against numpy 1.x and
            # mis-sizes arrays under numpy 2 (outputs came back empty); DLPack is ABI-stable.
            array = from_dlpack(tensor.to_dlpack())
            if array.dim() != 2 or array.shape[1] != self._n_features:
                errors[position] = f"'{self._input_name}' must be [N, {self._n_features}], got {list(array.shape)}"
                continue
            tensors.append(array)
            rows[position] = array.shape[0]
        scores = self._score(tensors)

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

    def _score(self, tensors):
        if not tensors:
            return torch.zeros((0, 1), dtype=torch.float32)
        # One concatenated call amortises per-call overhead over the whole dynamic batch;
        # cat also copies, so the request buffers are never written to.
        batch = torch.cat(tensors, dim=0).to(torch.float32)
        with torch.inference_mode():
            scores = self._model(batch)
        return scores.reshape(-1, 1).to(torch.float32).contiguous().clone()

    def finalize(self):
        """Release the model when Triton unloads this version."""
        self._model = None
