"""The pipeline contract: what a use case plugs into the domain-free engine (see ``contract.py``)."""

from engine.pipeline.contract import (
    EventRejected,
    LabelJoin,
    ModelInputs,
    OutputStamp,
    PipelinePlugin,
    Source,
)
from engine.pipeline.loader import load_plugin

__all__ = ["EventRejected", "LabelJoin", "ModelInputs", "OutputStamp", "PipelinePlugin", "Source", "load_plugin"]
