"""What a per-event pipeline (one score and one 0/1 label per event) tells the learner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EventLearning:
    """The learning side of a pipeline that scores events one by one and later learns a 0/1 label each.

    Attributes:
        feature_names: Columns of ``extract``'s matrix (feature drift, challengers' dict keys).
        extract: Decoded input events → float matrix [events, features] (the plugin's own extractor,
            so the learner watches exactly what the model saw).
        streams: How the input and output streams are labelled in the learner's metrics.
    """

    feature_names: Sequence[str]
    extract: Callable[[list[dict[str, Any]]], np.ndarray]
    streams: tuple[str, str] = ("inputs", "outputs")
    kind: str = field(default="event", init=False)

    @property
    def settings_class(self) -> type:
        """:class:`~engine.learn.settings.LearnSettings`."""
        from engine.learn.settings import LearnSettings

        return LearnSettings
