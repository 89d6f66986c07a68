"""The pipeline contract end to end: a third pipeline that lives only under tests/ (sensor readings →
a linear regression, ``tests/pipelines/sensors``) runs through ``serve`` on the real stack — schema from
its own file, its own tensors, outputs and dead-letter rule — exactly once across a ``kill -9``,
without a line of it under engine/."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pytest

from tests.integration.harness import PrivatePipeline, write_pipeline
from tests.pipelines.sensors.plugin import MODEL_NAME, SensorRegression, expected

PLUGIN = "tests.pipelines.sensors.plugin:SensorRegression"


@pytest.fixture(scope="module")
def sensors_model(stack):
    """The test-only regression exported into the stack's repository and READY in Triton."""
    from engine.inference.model_control import ModelControl

    repository = stack.settings.model_repository
    control = ModelControl(stack.settings.triton_http_url)
    versions = ModelControl.versions_on_disk(repository, MODEL_NAME)
    if not versions:
        versions = [SensorRegression().build_model(repository).version]
    if str(versions[-1]) not in control.ready_versions(MODEL_NAME):
        control.load(MODEL_NAME)
    return str(versions[-1])


@pytest.fixture()
def sensors(tmp_path, stack, kafka_bootstrap, make_topic, sensors_model):
    topics = [make_topic("sensors.in", 3), make_topic("sensors.out", 3),
              make_topic("sensors.dlq", 1, {"max.message.bytes": "2097152"}), make_topic("sensors.alerts", 1)]
    path = write_pipeline(tmp_path, "sensors", kafka_bootstrap, *topics, stack, pipeline_name="sensors", plugin=PLUGIN,
                          plugin_options={"max_humidity": 100.0}, topics={"input_schema": ""},
                          triton={"model_name": MODEL_NAME}, batching={"max_rows": 64, "max_delay_ms": 5})
    logs = tmp_path / "sensors-logs"
    logs.mkdir()
    pipeline = PrivatePipeline("sensors", path, *topics, kafka_bootstrap, logs)
    yield pipeline
    pipeline.stop_all()


def _readings(count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"schema_version": 1, "reading_id": f"r-{seed}-{i}", "sensor_id": f"s{int(rng.integers(0, 40))}",
             "temperature": round(float(rng.uniform(-20, 40)), 3), "humidity": round(float(rng.uniform(0, 100)), 3),
             "pressure": round(float(rng.uniform(950, 1050)), 2), "time": 1_767_225_600_000 + i} for i in range(count)]


def test_a_pipeline_defined_only_in_tests_serves_exactly_once(sensors: PrivatePipeline) -> None:
    good = _readings(3000, seed=3)
    bad = {  # record value → the reason it must be dead-lettered with
        b"not json": "not_json",
        orjson.dumps({**good[0], "reading_id": "bad-1", "pressure": 5000}): "schema_violation",
        orjson.dumps({k: v for k, v in good[1].items() if k != "humidity"} | {"reading_id": "bad-2"}): "schema_violation",
        orjson.dumps({**good[2], "reading_id": "bad-3", "humidity": 150.0}): "limit_exceeded",  # the plugin's own rule
    }
    producer = sensors.producer()
    for position, event in enumerate(good):
        producer.produce(sensors.input, orjson.dumps(event), event["sensor_id"].encode())
        if position % 700 == 0:
            for value in bad:
                producer.produce(sensors.input, value, b"s-bad")
    assert producer.flush(60) == 0
    inputs = len(good) + 5 * len(bad)  # positions 0, 700, ..., 2800

    watch = sensors.watch()
    worker = sensors.start_worker("0")
    deadline = time.monotonic() + 120
    while watch.answered() < 600 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watch.answered() >= 600, sensors.logs()
    sensors.kill9(worker)  # mid-stream: an open transaction dies with it
    restarted = sensors.start_worker("0")
    watch.scores.settle(inputs - 5 * len(bad), quiet_s=1.0, timeout_s=120)
    assert sensors.stop(restarted) == 0, sensors.logs()
    outputs = sensors.settle_and_check(watch, inputs)  # every input offset answered exactly once, in order

    dead = watch.dead.records()
    reasons: dict[str, int] = {}
    for record in dead:
        reason = dict(record.headers)["streaminfer.dlq.reason"]
        reasons[reason] = reasons.get(reason, 0) + 1
        assert bad[record.value] == reason, dict(record.headers)
    assert reasons == {"not_json": 5, "schema_violation": 10, "limit_exceeded": 5}
    limit = next(dict(r.headers) for r in dead if dict(r.headers)["streaminfer.dlq.reason"] == "limit_exceeded")
    assert "max_humidity" in limit["streaminfer.dlq.message"]

    by_id = {}
    for output in outputs:
        record = orjson.loads(output.value)
        assert record["model"]["name"] == MODEL_NAME and record["pipeline"] == "sensors"
        by_id[record["reading_id"]] = (record["predicted"], output.key)
    assert set(by_id) == {e["reading_id"] for e in good}
    served = np.array([by_id[e["reading_id"]][0] for e in good], dtype=np.float32)
    assert np.max(np.abs(served - expected(good))) <= 1e-4
    assert all(by_id[e["reading_id"]][1] == e["sensor_id"].encode() for e in good), "outputs keep the input key"
