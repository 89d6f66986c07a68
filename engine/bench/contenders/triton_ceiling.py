"""Triton ceiling: the model alone, at the engine's batch size and requests in flight, features precomputed.

No Kafka, no decoding, no feature extraction while timing: rows/s here bounds what any pipeline
around this model and server can do on this machine.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import orjson
import psutil
import tritonclient.grpc as grpcclient

from engine.bench.contenders.base import Contender, RunSpec, module_command
from engine.bench.latency import Percentiles
from models.fraud.features import FraudFeatures
from models.fraud.generator import FraudGenerator

#: Distinct feature rows prepared; batches cycle over them (Triton cannot tell).
_MAX_DISTINCT_ROWS = 65_536


class TritonCeiling(Contender):
    """Launcher of the Triton-only run; it writes its own figures to ``spec.result_path``."""

    name = "triton_ceiling"
    standalone = True

    def command(self, spec: RunSpec) -> list[str]:
        """This module as a process."""
        return module_command(__name__, spec)

    def settings_note(self) -> str:
        """How it runs."""
        return "tritonclient async gRPC, engine's max_rows and max_in_flight, features precomputed"


def _features(seed: int, rows: int) -> np.ndarray:
    events, _ = FraudGenerator(seed=seed).batch(min(rows, _MAX_DISTINCT_ROWS))
    return FraudFeatures().extract(events)


def run(spec: RunSpec) -> int:
    """Infer ``spec.rows`` rows with ``max_in_flight`` requests outstanding; write figures as JSON."""
    features = _features(spec.seed, spec.rows)
    client = grpcclient.InferenceServerClient(url=spec.triton_url)
    output = [grpcclient.InferRequestedOutput("score")]
    slots = threading.Semaphore(spec.max_in_flight)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def request(rows: np.ndarray) -> None:
        tensor = grpcclient.InferInput("features", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        started = time.perf_counter()

        def done(result, error) -> None:
            with lock:
                latencies.append((time.perf_counter() - started) * 1000.0)
                if error is not None:
                    errors.append(str(error))
            slots.release()

        client.async_infer(spec.model_name, [tensor], done, outputs=output, client_timeout=30)

    slots.acquire()
    request(features[: spec.max_rows])  # warm the channel: the first RPC pays for the connection
    slots.acquire()  # ...and wait for it
    slots.release()
    latencies.clear()
    process = psutil.Process()
    cpu_before = sum(process.cpu_times()[:2])
    started = time.perf_counter()
    sent = 0
    while sent < spec.rows:
        slots.acquire()
        take = min(spec.max_rows, spec.rows - sent)
        start = sent % len(features)
        rows = features[start:start + take]
        if len(rows) < take:  # wrap around the prepared rows
            rows = np.concatenate([rows, features[: take - len(rows)]])
        request(np.ascontiguousarray(rows))
        sent += take
    for _ in range(spec.max_in_flight):  # wait for the last requests
        slots.acquire()
    seconds = time.perf_counter() - started
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    client.close()
    request_ms = Percentiles.of(latencies)
    result = {"rows": sent, "seconds": seconds, "rows_per_s": sent / seconds, "cpu_s": cpu,
              "rss_mb": process.memory_info().rss / 2**20, "errors": len(errors), "first_error": errors[:1],
              "request_p50_ms": request_ms.p50, "request_p99_ms": request_ms.p99}
    with open(spec.result_path, "wb") as out:
        out.write(orjson.dumps(result))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(run(RunSpec.from_json(sys.argv[1])))
