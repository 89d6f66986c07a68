"""Naive: poll one event, encode it, infer it with a blocking gRPC call, produce, wait for the ack, commit.

This is the loop most first versions look like. It is correct (at-least-once: the offset is
committed only after the output is acknowledged) and slow: every event pays a Triton round trip, a
produce round trip and a commit round trip. It cannot finish a large dataset in reasonable time,
so the runner caps it and events/s comes from what it did.
"""

from __future__ import annotations

import sys
import time

import tritonclient.grpc as grpcclient
from confluent_kafka import Consumer, Producer

from engine.bench.contenders.base import Contender, RunSpec, module_command, stop_flag
from engine.bench.contenders.scoring import PeerScorer
from engine.bench.contenders.tensors import infer_inputs, outputs_of, requested_outputs
from engine.bench.workload import load_plugin_for
from engine.pipeline.contract import Source


class NaiveContender(Contender):
    """Launcher of the one-event-at-a-time loop."""

    name = "naive"
    time_capped = True

    def command(self, spec: RunSpec) -> list[str]:
        """This module as a process."""
        return module_command(__name__, spec)

    def settings_note(self) -> str:
        """How it runs."""
        return "poll(1) → encode → blocking infer(1 event) → records → produce+flush → sync commit, at-least-once"


def run(spec: RunSpec) -> int:
    """Serve events one by one until SIGTERM."""
    stop = stop_flag()
    _, plugin = load_plugin_for(spec.pipeline)
    scorer = PeerScorer(plugin, spec.resolved_input_schema(), spec.model_name, "naive")
    consumer = Consumer({"bootstrap.servers": spec.bootstrap, "group.id": spec.group_id,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    producer = Producer({"bootstrap.servers": spec.bootstrap, "enable.idempotence": True, "acks": "all"})
    triton = grpcclient.InferenceServerClient(url=spec.triton_url)
    outputs = requested_outputs(plugin.model_outputs)
    consumer.subscribe([spec.input_topic])
    try:
        while not stop.is_set():
            message = consumer.poll(0.1)
            if message is None or message.error() is not None:
                continue
            consumed_ms = time.time() * 1000
            event = scorer.decode(message.value())
            inputs = scorer.encode([event])[1] if event is not None else None
            if inputs is not None:
                result = triton.infer(spec.model_name, infer_inputs(inputs, plugin.model_inputs),
                                      outputs=outputs, client_timeout=30)
                source = Source(message.topic(), message.partition(), message.offset())
                (value,) = scorer.records([event], outputs_of(result, plugin.model_outputs), inputs.layout,
                                          [source], result.get_response().model_version, consumed_ms)
                producer.produce(spec.output_topic, value, message.key())
                producer.flush(30)
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
        producer.flush(10)
        triton.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(RunSpec.from_json(sys.argv[1])))
