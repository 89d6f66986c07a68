"""Model versions for rollout tests, in their own Triton model (``fraud_rollout``) so that no other
test ever serves them: the champion, an identical candidate, one whose scores are random, one that
loads but fails every real request, and one that does not load at all."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.inference.model_control import ModelControl
from models import triton_repo

MODEL = "fraud_rollout"


class RandomScores(torch.nn.Module):
    """A broken model that still answers: uniform random scores, whatever the input."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.rand(features.shape[0], 1)


class FailsOnRealInput(torch.nn.Module):
    """Loads and warms up (Triton warms models on zeros) but raises on every real request."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if bool(features.abs().sum() > 0):
            raise RuntimeError("candidate fault injected by the rollout tests")
        return torch.zeros(features.shape[0], 1)


class SlowScores(torch.nn.Module):
    """The champion's scores, computed after ~0.1 s of needless work per request (the champion's
    requests take a few milliseconds)."""

    def __init__(self, champion: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.champion = champion
        self.weight = torch.nn.Parameter(torch.randn(256, 256) / 16.0, requires_grad=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.weight
        for _ in range(100):  # ~0.1-0.2 s per request on this box, whatever its size
            x = torch.tanh(torch.mm(x, self.weight))
        return self.champion(features) + 0.0 * x.sum()


def _scripted(module: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class RolloutModels:
    """Versions of :data:`MODEL`: champion 1, identical 2, random 3, erroring 4, unloadable 5, slow 6."""

    name: str = MODEL
    champion: str = "1"
    identical: str = "2"
    random: str = "3"
    erroring: str = "4"
    unloadable: str = "5"
    slow: str = "6"


def export_rollout_models(repository: Path, fraud_version_dir: Path, http_url: str) -> RolloutModels:
    """Write the versions (replacing any earlier session's) and load only the champion."""
    model_dir = repository / MODEL
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    config = (fraud_version_dir.parent / "config.pbtxt").read_text()
    # Only the champion at first load; rollouts load the others by version policy overrides.
    config = config.replace('name: "fraud"', f'name: "{MODEL}"', 1)
    (model_dir / "config.pbtxt").write_text(config.replace("version_policy: { all: {} }",
                                                           "version_policy: { specific: { versions: [1] } }"))
    champion = (fraud_version_dir / triton_repo.TORCHSCRIPT_FILENAME).read_bytes()
    versions = [(champion, "the shipped fraud model"), (champion, "identical to the champion"),
                (_scripted(RandomScores()), "random scores"), (_scripted(FailsOnRealInput()), "fails real requests"),
                (b"not a TorchScript archive", "does not load")]
    loaded = torch.jit.load(io.BytesIO(champion))
    versions.append((_scripted(SlowScores(loaded)), "the champion's scores, much slower"))
    for number, (torchscript, role) in enumerate(versions, start=1):
        triton_repo.write_model_version(model_dir, number, torchscript, {"metrics": {}, "role": role})
    ModelControl(http_url).load_versions(MODEL, ["1"])
    return RolloutModels()
