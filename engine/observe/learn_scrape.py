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
        joined: Score/label pairs joined (a ranking learner: lists judged).
        lag: Per topic, the summed lag of its partitions (the labels group and the two readers).
        joined_by: ``joined`` per order (``score_first``…; a ranking learner: ``ranked_first``,
            ``feedback_first``, ``partial``).
        models: Model → metric → value of ``streaminfer_learn_model_metric`` (the champion included).
        samples: Model → examples learned or judged (``streaminfer_learn_model_samples``).
        catalog: Figure → value of ``streaminfer_learn_catalog`` (ranking learners).
        alerts: Kind → detector firings published (``streaminfer_learn_alerts_total{outcome="published"}``).
    """

    at: float
    records: dict[str, float] = field(default_factory=dict)
    joined: float = 0.0
    lag: dict[str, float] = field(default_factory=dict)
    joined_by: dict[str, float] = field(default_factory=dict)
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    samples: dict[str, float] = field(default_factory=dict)
    catalog: dict[str, float] = field(default_factory=dict)
    alerts: dict[str, float] = field(default_factory=dict)

    def metric(self, model: str, name: str) -> float | None:
        """One model's metric, None while the learner has not exported it."""
        return self.models.get(model, {}).get(name)

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
                order = labels.get("order", "")
                snap.joined_by[order] = snap.joined_by.get(order, 0.0) + value
            elif name == "streaminfer_learn_consumer_lag":
                snap.lag[labels["topic"]] = snap.lag.get(labels["topic"], 0.0) + value
            elif name == "streaminfer_learn_model_metric":
                snap.models.setdefault(labels["model"], {})[labels["metric"]] = value
            elif name == "streaminfer_learn_model_samples":
                snap.samples[labels["model"]] = value
            elif name == "streaminfer_learn_catalog":
                snap.catalog[labels["figure"]] = value
            elif name == "streaminfer_learn_alerts_total" and labels.get("outcome") == "published":
                snap.alerts[labels["kind"]] = snap.alerts.get(labels["kind"], 0.0) + value
    return snap


def scrape_learner(url: str, timeout_s: float = 2.0) -> LearnerSnapshot | None:
    """Scrape ``url``; None when the learner does not answer (yet)."""
    text = fetch(url, timeout_s)
    return None if text is None else parse_learner(text, time.monotonic())
