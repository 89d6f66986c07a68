"""Asynchronous batched inference against Triton over gRPC (binary tensors, several requests in flight)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from engine.config.pipeline import TritonSettings
from engine.stack.health import triton_ready

#: gRPC status codes after which the same request may succeed later (server restarting, overloaded).
RETRIABLE_STATUS = {"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.CANCELLED",
                    "StatusCode.RESOURCE_EXHAUSTED", "StatusCode.ABORTED"}


@dataclass(frozen=True, slots=True)
class InferenceOutcome:
    """What came back for one request: scores or an error, never both."""

    scores: np.ndarray | None
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
    """Submits float32 feature matrices to one Triton model; results arrive on a callback.

    Args:
        settings: Model name/version, tensor names, request timeout.
    """

    def __init__(self, settings: TritonSettings) -> None:
        self.settings = settings
        self._client = grpcclient.InferenceServerClient(url=settings.url)
        self._outputs = [grpcclient.InferRequestedOutput(settings.output_name)]

    def submit(self, features: np.ndarray, on_done: Callable[[InferenceOutcome], None]) -> None:
        """Send one batch; ``on_done`` is called exactly once, from a gRPC thread."""
        import time

        started = time.perf_counter()
        name = self.settings.output_name

        def callback(result, error) -> None:  # runs on a gRPC worker thread
            elapsed = time.perf_counter() - started
            if error is not None:
                message, retriable = classify_error(error)
                on_done(InferenceOutcome(None, "", message, retriable, elapsed))
                return
            try:
                scores = result.as_numpy(name)
                version = result.get_response().model_version
                if scores is None or scores.shape[0] != features.shape[0]:
                    shape = None if scores is None else scores.shape
                    on_done(InferenceOutcome(None, version, f"model returned {shape} for {features.shape[0]} rows",
                                             False, elapsed))
                    return
                scores = scores.reshape(-1)
                if not np.isfinite(scores).all():
                    # NaN/inf out of the model is a model fault; publishing it would hand every
                    # score consumer an invalid number.
                    on_done(InferenceOutcome(None, version, "model returned non-finite scores", False, elapsed))
                    return
                on_done(InferenceOutcome(scores, version, None, True, elapsed))
            except Exception as exc:  # noqa: BLE001 — a callback must never raise into gRPC
                on_done(InferenceOutcome(None, "", f"bad response: {exc}", False, elapsed))

        tensor = grpcclient.InferInput(self.settings.input_name, list(features.shape), "FP32")
        tensor.set_data_from_numpy(features)  # raw binary, no JSON
        try:
            self._client.async_infer(
                self.settings.model_name, [tensor], callback, model_version=self.settings.model_version,
                outputs=self._outputs, client_timeout=self.settings.request_timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 — e.g. channel closed: deliver as an outcome
            message, retriable = classify_error(exc)
            on_done(InferenceOutcome(None, "", message, retriable, time.perf_counter() - started))

    def server_ready(self) -> bool:
        """Triton's ``/v2/health/ready`` over HTTP (fast, bounded)."""
        return triton_ready(self.settings.http_url, timeout_s=1.0)

    def close(self) -> None:
        """Close the gRPC channel."""
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 — closing twice or after a server crash is fine
            pass
