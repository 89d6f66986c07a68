"""Asynchronous batched inference against Triton over gRPC (binary tensors, several requests in flight)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from engine.config.pipeline import TritonSettings
from engine.pipeline.contract import ModelInputs
from engine.stack.health import triton_model_ready

#: gRPC status codes after which the same request may succeed later (server restarting, overloaded).
RETRIABLE_STATUS = {"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.CANCELLED",
                    "StatusCode.RESOURCE_EXHAUSTED", "StatusCode.ABORTED"}


@dataclass(frozen=True, slots=True)
class InferenceOutcome:
    """What came back for one request: the named outputs or an error, never both."""

    outputs: dict[str, np.ndarray] | None
    model_version: str
    error: str | None = None
    retriable: bool = True
    latency_s: float = 0.0


def classify_error(error: Exception) -> tuple[str, bool]:
    """(message, retriable) for a failed request. Non-retriable means a model fault (shape, dtype,
    missing model): it is reported loudly and never blamed on the input."""
    if isinstance(error, InferenceServerException):
        status = str(error.status() or "")
        message = f"{status}: {error.message()}"
        if status in RETRIABLE_STATUS:
            return message, True
        # Triton says "not ready"/"unavailable" in the text while a model is (re)loading.
        text = (error.message() or "").lower()
        transient = "unavailable" in text or "not ready" in text or "connect" in text
        return message, transient
    return f"{type(error).__name__}: {error}", True


class TritonInferenceClient:
    """Submits a batch's named input tensors to one Triton model; results arrive on a callback.

    Args:
        settings: Model name/version, request timeout.
        output_names: The outputs to request (the pipeline plugin's ``model_outputs``).
    """

    def __init__(self, settings: TritonSettings, output_names: tuple[str, ...]) -> None:
        self.settings = settings
        self.output_names = output_names
        self._client = grpcclient.InferenceServerClient(url=settings.url)
        self._outputs = [grpcclient.InferRequestedOutput(name) for name in output_names]

    def submit(self, inputs: ModelInputs, on_done: Callable[[InferenceOutcome], None],
               model_version: str | None = None, timeout_s: float | None = None) -> None:
        """Send one batch; ``on_done`` is called exactly once, from a gRPC thread.

        Args:
            inputs: The named tensors.
            on_done: Receives the outcome.
            model_version: Version to ask for (None: the settings' ``model_version``; '' = newest).
            timeout_s: Request timeout (None: the settings' ``request_timeout_s``).
        """
        import time

        started = time.perf_counter()
        names, rows = self.output_names, inputs.rows

        def callback(result, error) -> None:  # runs on a gRPC worker thread
            elapsed = time.perf_counter() - started
            if error is not None:
                message, retriable = classify_error(error)
                on_done(InferenceOutcome(None, "", message, retriable, elapsed))
                return
            try:
                version = result.get_response().model_version
                outputs, problem = {}, None
                for name in names:
                    array = result.as_numpy(name)
                    if array is None or array.ndim == 0 or array.shape[0] != rows:
                        problem = f"model returned {None if array is None else array.shape} for {name!r}, {rows} rows sent"
                        break
                    if array.dtype.kind == "f" and not np.isfinite(array).all():
                        # NaN/inf out of the model is a model fault; publishing it would hand every
                        # consumer an invalid number.
                        problem = f"model returned non-finite values in {name!r}"
                        break
                    outputs[name] = array
                if problem:
                    on_done(InferenceOutcome(None, version, problem, False, elapsed))
                    return
                on_done(InferenceOutcome(outputs, version, None, True, elapsed))
            except Exception as exc:  # noqa: BLE001 — a callback must never raise into gRPC
                on_done(InferenceOutcome(None, "", f"bad response: {exc}", False, elapsed))

        tensors = []
        for name, array in inputs.tensors.items():
            tensor = grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array)  # raw binary, no JSON
            tensors.append(tensor)
        try:
            self._client.async_infer(
                self.settings.model_name, tensors, callback,
                model_version=self.settings.model_version if model_version is None else model_version,
                outputs=self._outputs,
                client_timeout=self.settings.request_timeout_s if timeout_s is None else timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 — e.g. channel closed: deliver as an outcome
            message, retriable = classify_error(exc)
            on_done(InferenceOutcome(None, "", message, retriable, time.perf_counter() - started))

    def server_ready(self, version: str | None = None) -> bool:
        """Whether Triton serves the model ``version`` now (None: the configured version), over HTTP
        (fast, bounded). The model, not the server: another version failing to load must not look
        like an outage of this one."""
        version = self.settings.model_version if version is None else version
        return triton_model_ready(self.settings.http_url, self.settings.model_name, version, timeout_s=1.0)

    def close(self) -> None:
        """Close the gRPC channel."""
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 — closing twice or after a server crash is fine
            pass
