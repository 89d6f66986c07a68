"""Triton ceiling: the model alone, at the engine's batch size and requests in flight, inputs precomputed.

The plugin's ``encode`` runs on batches of ``max_rows`` events before timing starts; then only Triton
calls are timed. No Kafka, no decoding, no encoding while timing: rows/s here bounds what any pipeline
around this model and server can do on this machine (events/s = the same batches' events / time).
"""

from __future__ import annotations

import sys
import threading
import time
from itertools import islice

import orjson
import psutil
import tritonclient.grpc as grpcclient

from engine.bench.contenders.base import Contender, RunSpec, module_command
from engine.bench.contenders.tensors import infer_inputs, requested_outputs
from engine.bench.latency import Percentiles
from engine.bench.workload import load_plugin_for
from engine.pipeline.contract import ModelInputs, PipelinePlugin

#: Rows prepared at most (whole batches, at least one); requests cycle over them (Triton cannot tell).
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
        return "tritonclient async gRPC, engine's max_rows events per request and max_in_flight, inputs precomputed"


def prepare_batches(plugin: PipelinePlugin, seed: int, events_per_batch: int,
                    rows: int) -> list[tuple[int, ModelInputs]]:
    """``(events, plugin.encode(events))`` of consecutive batches of the dataset's events, until ``rows``
    rows (capped at :data:`_MAX_DISTINCT_ROWS`, at least one batch) are prepared."""
    stream = plugin.synthetic_events(seed)
    batches: list[tuple[int, ModelInputs]] = []
    prepared, limit = 0, min(rows, _MAX_DISTINCT_ROWS)
    while prepared < limit or not batches:
        events = list(islice(stream, events_per_batch))
        inputs = plugin.encode(events)
        batches.append((len(events), inputs))
        prepared += inputs.rows
    return batches


def run(spec: RunSpec) -> int:
    """Infer at least ``spec.rows`` rows with ``max_in_flight`` requests outstanding; write figures as JSON."""
    _, plugin = load_plugin_for(spec.pipeline)
    batches = prepare_batches(plugin, spec.seed, spec.max_rows, spec.rows)
    names = plugin.model_inputs
    client = grpcclient.InferenceServerClient(url=spec.triton_url)
    output = requested_outputs(plugin.model_outputs)
    slots = threading.Semaphore(spec.max_in_flight)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def request(inputs: ModelInputs) -> None:
        tensors = infer_inputs(inputs, names)  # serialising is part of a call, as in the engine
        started = time.perf_counter()

        def done(result, error) -> None:
            with lock:
                latencies.append((time.perf_counter() - started) * 1000.0)
                if error is not None:
                    errors.append(str(error))
            slots.release()

        client.async_infer(spec.model_name, tensors, done, outputs=output, client_timeout=30)

    slots.acquire()
    request(batches[0][1])  # warm the channel: the first RPC pays for the connection
    slots.acquire()  # ...and wait for it
    slots.release()
    latencies.clear()
    process = psutil.Process()
    cpu_before = sum(process.cpu_times()[:2])
    started = time.perf_counter()
    sent = events = requests = 0
    while sent < spec.rows:  # whole batches: a plugin's rows cannot be split across events
        slots.acquire()
        batch_events, inputs = batches[requests % len(batches)]
        request(inputs)
        sent += inputs.rows
        events += batch_events
        requests += 1
    for _ in range(spec.max_in_flight):  # wait for the last requests
        slots.acquire()
    seconds = time.perf_counter() - started
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    client.close()
    request_ms = Percentiles.of(latencies)
    result = {"rows": sent, "events": events, "requests": requests, "seconds": seconds,
              "rows_per_s": sent / seconds, "events_per_s": events / seconds, "cpu_s": cpu,
              "rss_mb": process.memory_info().rss / 2**20, "errors": len(errors), "first_error": errors[:1],
              "request_p50_ms": request_ms.p50, "request_p99_ms": request_ms.p99}
    with open(spec.result_path, "wb") as out:
        out.write(orjson.dumps(result))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(run(RunSpec.from_json(sys.argv[1])))
