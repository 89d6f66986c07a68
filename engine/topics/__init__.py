"""Topics as code: specs from ``topics/topics.yaml``, their schemas, and applying them to Kafka."""

from engine.topics.apply import apply_topics, describe_drift
from engine.topics.registry import SchemaRegistry
from engine.topics.report import ApplyReport, Change, TopicOutcome, TopicStatus
from engine.topics.specs import DEFAULT_CATALOG_PATH, TopicCatalog, TopicSpec

__all__ = [
    "DEFAULT_CATALOG_PATH",
    "ApplyReport",
    "Change",
    "SchemaRegistry",
    "TopicCatalog",
    "TopicOutcome",
    "TopicSpec",
    "TopicStatus",
    "apply_topics",
    "describe_drift",
]
