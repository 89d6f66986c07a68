"""Faust peer: a faust-streaming agent batching with ``stream.take_events(max, within)`` into Triton.

Tuned as a user would tune it, with the engine's own batch size and deadline: raw (de)serializers
and orjson instead of faust Records, a bigger stream buffer, Triton's asyncio gRPC client, low
producer linger, the web server and the leader topic off. At-least-once (faust's default). Agent
concurrency (requests to Triton in flight) is ``STREAMINFER_BENCH_FAUST_CONCURRENCY`` (default 1:
with more, faust's offset acking and per-partition order are no longer what the engine gives).
"""

from __future__ import annotations

import os
import sys
import time

from engine.bench.contenders.base import Contender, RunSpec, module_command
from engine.bench.contenders.scoring import PeerScorer

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


def build_app(spec: RunSpec):
    """The faust app and its scoring agent for ``spec``."""
    import faust
    import tritonclient.grpc.aio as triton_aio

    app = faust.App(
        spec.group_id,  # the app id is the consumer group
        broker=f"kafka://{spec.bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=16_384,
        stream_wait_empty=False,
        producer_linger_ms=2,
        producer_acks=-1,
        producer_max_batch_size=256 * 1024,
        broker_commit_interval=1.0,  # faust default 2.8 s; sooner keeps redelivery after a crash small
        processing_guarantee="at_least_once",
    )
    source = app.topic(spec.input_topic, key_serializer="raw", value_serializer="raw")
    sink = app.topic(spec.output_topic, key_serializer="raw", value_serializer="raw")
    scorer = PeerScorer(spec.model_name, "faust")
    within = max(0.001, spec.max_delay_ms / 1000.0)

    @app.agent(source, concurrency=_concurrency())
    async def score(stream) -> None:
        client = triton_aio.InferenceServerClient(url=spec.triton_url)
        outputs = [triton_aio.InferRequestedOutput("score")]
        async for events in stream.take_events(spec.max_rows, within=within):
            consumed_ms = time.time() * 1000
            kept = [(event, decoded) for event in events
                    if (decoded := scorer.decode(event.value)) is not None]
            if not kept:
                continue
            features = scorer.features([decoded for _, decoded in kept])
            tensor = triton_aio.InferInput("features", list(features.shape), "FP32")
            tensor.set_data_from_numpy(features)
            result = await client.infer(spec.model_name, [tensor], outputs=outputs, client_timeout=30)
            scores = result.as_numpy("score").reshape(-1).tolist()
            version = result.get_response().model_version
            for (event, decoded), value in zip(kept, scores):
                message = event.message
                await sink.send(key=event.key, value=scorer.record(
                    decoded, value, version, message.topic, message.partition, message.offset, consumed_ms))

    return app


def run(spec: RunSpec) -> None:
    """Run the faust worker until SIGTERM (faust handles the signal and stops gracefully)."""
    app = build_app(spec)
    sys.argv = ["bench-faust", "worker", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    run(RunSpec.from_json(sys.argv[1]))
