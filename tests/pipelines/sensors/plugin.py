"""Sensor readings in, a linear regression of three numeric fields out: the smallest complete plugin."""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import torch
from pydantic import BaseModel, ConfigDict, Field

from engine.codec.reasons import DlqReason
from engine.pipeline.contract import EventRejected, ModelInputs, OutputStamp, PipelinePlugin, Source
from models import triton_repo
from models.torchscript import to_torchscript_bytes

MODEL_NAME = "sensors"
FIELDS = ("temperature", "humidity", "pressure")
#: The regression Triton serves: y = x · WEIGHTS + BIAS (a known function, so tests can check every output).
WEIGHTS = (0.5, -0.25, 0.01)
BIAS = 2.0


class SensorOptions(BaseModel):
    """``plugin_options`` of the sensors pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_humidity: float = Field(100.0, gt=0, description="Readings above this are dead-lettered (a broken probe).")


class _Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(len(FIELDS), 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([WEIGHTS]))
            self.linear.bias.fill_(BIAS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class SensorRegression(PipelinePlugin):
    """``readings`` → ``x`` float32 [N, 3] → ``y`` [N, 1] → one prediction record per reading."""

    name = "sensors"
    input_schema = str(Path(__file__).with_name("schema.json"))
    model_inputs = ("x",)
    model_outputs = ("y",)
    Options = SensorOptions

    def __init__(self, options: SensorOptions | None = None) -> None:
        super().__init__(options or SensorOptions())
        self._fields = itemgetter(*FIELDS)

    def entity_key(self, event: dict[str, Any]) -> str:
        """Readings are keyed by sensor."""
        return event["sensor_id"]

    def encode(self, events: list[dict[str, Any]]) -> ModelInputs:
        """One row of the three fields per reading; a humidity above the configured maximum is rejected."""
        x = np.fromiter(chain.from_iterable(map(self._fields, events)), np.float32,
                        len(events) * len(FIELDS)).reshape(len(events), len(FIELDS))
        if (x[:, 1] > self.options.max_humidity).any():
            raise EventRejected(f"humidity above max_humidity {self.options.max_humidity}", DlqReason.LIMIT_EXCEEDED)
        return ModelInputs({"x": x}, len(events))

    def records(self, events: list[dict[str, Any]], outputs: dict[str, np.ndarray], layout: Any,
                sources: list[Source], stamp: OutputStamp) -> list[bytes]:
        """``{reading_id, sensor_id, predicted, model, source, pipeline}`` per reading."""
        model = {"name": stamp.model_name, "version": stamp.model_version}
        return [orjson.dumps({"schema_version": 1, "reading_id": e["reading_id"], "sensor_id": e["sensor_id"],
                              "predicted": y, "model": model, "pipeline": stamp.pipeline,
                              "source": {"topic": s.topic, "partition": s.partition, "offset": s.offset}})
                for e, y, s in zip(events, outputs["y"].reshape(-1).tolist(), sources)]

    def build_model(self, repository: Path, force: bool = False):
        """Export the fixed regression as a new version of ``sensors`` (nothing to train)."""
        model_dir = Path(repository) / MODEL_NAME
        version = triton_repo.next_version(model_dir)
        torchscript = to_torchscript_bytes(_Linear())
        path = triton_repo.write_model_version(model_dir, version, torchscript, {"name": MODEL_NAME})
        triton_repo.write_config(model_dir, [triton_repo.TensorSpec("x", (len(FIELDS),))],
                                 [triton_repo.TensorSpec("y", (1,))])
        return SimpleNamespace(name=MODEL_NAME, version=version, path=path, metrics={}, from_cache=False)


def expected(events: list[dict[str, Any]]) -> np.ndarray:
    """What the served model must answer for ``events`` (float32, like Triton)."""
    x = np.array([[e[f] for f in FIELDS] for e in events], dtype=np.float32)
    return (x @ np.array(WEIGHTS, dtype=np.float32) + np.float32(BIAS)).astype(np.float32)
