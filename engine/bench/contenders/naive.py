"""Naive: poll one event, infer it with a blocking gRPC call, produce, wait for the ack, commit.

This is the loop most first versions look like. It is correct (at-least-once: the offset is
committed only after the score is acknowledged) and slow: every event pays a Triton round trip, a
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


class NaiveContender(Contender):
    """Launcher of the one-event-at-a-time loop."""

    name = "naive"
    time_capped = True

    def command(self, spec: RunSpec) -> list[str]:
        """This module as a process."""
        return module_command(__name__, spec)

    def settings_note(self) -> str:
        """How it runs."""
        return "poll(1) → blocking infer(batch 1) → produce+flush → sync commit, at-least-once"


def run(spec: RunSpec) -> int:
    """Score events one by one until SIGTERM."""
    stop = stop_flag()
    scorer = PeerScorer(spec.model_name, "naive")
    consumer = Consumer({"bootstrap.servers": spec.bootstrap, "group.id": spec.group_id,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    producer = Producer({"bootstrap.servers": spec.bootstrap, "enable.idempotence": True, "acks": "all"})
    triton = grpcclient.InferenceServerClient(url=spec.triton_url)
    outputs = [grpcclient.InferRequestedOutput("score")]
    consumer.subscribe([spec.input_topic])
    try:
        while not stop.is_set():
            message = consumer.poll(0.1)
            if message is None or message.error() is not None:
                continue
            consumed_ms = time.time() * 1000
            event = scorer.decode(message.value())
            if event is not None:
                features = scorer.features([event])
                tensor = grpcclient.InferInput("features", list(features.shape), "FP32")
                tensor.set_data_from_numpy(features)
                result = triton.infer(spec.model_name, [tensor], outputs=outputs, client_timeout=30)
                score = float(result.as_numpy("score").reshape(-1)[0])
                version = result.get_response().model_version
                producer.produce(spec.output_topic, scorer.record(event, score, version, message.topic(),
                                                                  message.partition(), message.offset(),
                                                                  consumed_ms), message.key())
                producer.flush(30)
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
        producer.flush(10)
        triton.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(RunSpec.from_json(sys.argv[1])))
