"""Reads a learner's Prometheus endpoint (``streaminfer learn --metrics-port``) into a small snapshot."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from engine.observe.scrape import fetch


@dataclass
class LearnerSnapshot:
    """What one scrape of a learner said.

    Attributes:
        at: When (``time.monotonic()``).
        records: Records consumed per stream (``scores``, ``labels``, ``transactions``).
        joined: Score/label pairs joined.
        lag: Per topic, the summed lag of its partitions (the labels group and the two readers).
    """

    at: float
    records: dict[str, float] = field(default_factory=dict)
    joined: float = 0.0
    lag: dict[str, float] = field(default_factory=dict)

    def reading(self, *topics: str) -> bool:
        """Whether the learner exports lag for every one of ``topics``: its readers of them exist."""
        return all(topic in self.lag for topic in topics)

    @property
    def total_lag(self) -> float:
        """Lag over every topic it reads."""
        return sum(self.lag.values())


def parse_learner(text: str, at: float) -> LearnerSnapshot:
    """Build a snapshot from exposition text."""
    snap = LearnerSnapshot(at=at)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "streaminfer_learn_records_total":
                snap.records[labels["stream"]] = snap.records.get(labels["stream"], 0.0) + value
            elif name == "streaminfer_learn_joined_total":
                snap.joined += value
            elif name == "streaminfer_learn_consumer_lag":
                snap.lag[labels["topic"]] = snap.lag.get(labels["topic"], 0.0) + value
    return snap


def scrape_learner(url: str, timeout_s: float = 2.0) -> LearnerSnapshot | None:
    """Scrape ``url``; None when the learner does not answer (yet)."""
    text = fetch(url, timeout_s)
    return None if text is None else parse_learner(text, time.monotonic())
