"""Faust peer: a faust-streaming agent batching with ``stream.take_events(max, within)`` into Triton.

Tuned as a user would tune it, with the engine's own batch size and deadline: raw (de)serializers
and orjson instead of faust Records, a bigger stream buffer, Triton's asyncio gRPC client, a
20 ms producer linger, the web server and the leader topic off, data under a temporary directory.
At-least-once (faust's default). Agent concurrency (Triton requests in flight) is
``STREAMINFER_BENCH_FAUST_CONCURRENCY``, default 1: 4 was slower here (1.4k vs 2.8k events/s), and
with more than 1 per-partition order is no longer what the engine gives. Events are decoded,
encoded and turned into output records by the pipeline's plugin, as in the engine and naive.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time

from engine.bench.contenders.base import Contender, RunSpec, module_command
from engine.bench.contenders.scoring import PeerScorer
from engine.bench.contenders.tensors import infer_inputs, outputs_of, requested_outputs
from engine.bench.workload import load_plugin_for
from engine.pipeline.contract import Source

_CONCURRENCY_ENV = "STREAMINFER_BENCH_FAUST_CONCURRENCY"


class FaustContender(Contender):
    """Launcher of the faust worker."""

    name = "faust"

    def command(self, spec: RunSpec) -> list[str]:
        """This module as a process."""
        return module_command(__name__, spec)

    def settings_note(self) -> str:
        """How it runs."""
        return (f"faust-streaming agent, take_events(max_rows, within=max_delay), aio gRPC, "
                f"concurrency {_concurrency()}, at-least-once, no compression (no lz4 for aiokafka)")


def _concurrency() -> int:
    return max(1, int(os.environ.get(_CONCURRENCY_ENV, "1") or 1))


def build_app(spec: RunSpec, datadir: str):
    """The faust app and its serving agent for ``spec``, keeping its files under ``datadir``."""
    import faust
    import tritonclient.grpc.aio as triton_aio

    app = faust.App(
        spec.group_id,  # the app id is the consumer group
        broker=f"kafka://{spec.bootstrap}",
        store="memory://",
        datadir=datadir,  # faust writes <id>-data/ in the working directory otherwise
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=16_384,
        stream_wait_empty=False,
        producer_linger_ms=20,  # tried 2/5/20/50 ms: 20 gave the best throughput (2 ms: half of it)
        producer_acks=-1,
        producer_max_batch_size=256 * 1024,
        broker_commit_interval=1.0,  # faust default 2.8 s; sooner keeps redelivery after a crash small
        processing_guarantee="at_least_once",
    )
    source = app.topic(spec.input_topic, key_serializer="raw", value_serializer="raw")
    sink = app.topic(spec.output_topic, key_serializer="raw", value_serializer="raw")
    _, plugin = load_plugin_for(spec.pipeline)
    scorer = PeerScorer(plugin, spec.resolved_input_schema(), spec.model_name, "faust")
    within = max(0.001, spec.max_delay_ms / 1000.0)

    @app.agent(source, concurrency=_concurrency())
    async def score(stream) -> None:
        client = triton_aio.InferenceServerClient(url=spec.triton_url)
        outputs = requested_outputs(plugin.model_outputs)
        async for events in stream.take_events(spec.max_rows, within=within):
            consumed_ms = time.time() * 1000
            kept = [(event, decoded) for event in events
                    if (decoded := scorer.decode(event.value)) is not None]
            positions, inputs = scorer.encode([decoded for _, decoded in kept]) if kept else ([], None)
            if inputs is None:
                continue
            kept = [kept[i] for i in positions]
            result = await client.infer(spec.model_name, infer_inputs(inputs, plugin.model_inputs),
                                        outputs=outputs, client_timeout=30)
            sources = [Source(e.message.topic, e.message.partition, e.message.offset) for e, _ in kept]
            values = scorer.records([decoded for _, decoded in kept], outputs_of(result, plugin.model_outputs),
                                    inputs.layout, sources, result.get_response().model_version, consumed_ms)
            for (event, _), value in zip(kept, values):
                await sink.send(key=event.key, value=value)

    return app


def run(spec: RunSpec) -> None:
    """Run the faust worker until SIGTERM (faust handles the signal and stops gracefully)."""
    datadir = tempfile.mkdtemp(prefix="bench-faust-")
    atexit.register(shutil.rmtree, datadir, True)  # app.main() ends in sys.exit
    app = build_app(spec, datadir)
    sys.argv = ["bench-faust", "worker", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    run(RunSpec.from_json(sys.argv[1]))
