"""Which topic-level configs a spec may set, and sanity checks on their values.

Checked when the catalog loads, so a typo ("retention.m") fails in a unit test instead of as
an InvalidConfig error from the broker during deployment.
"""

from __future__ import annotations

# Topic-level configs of Kafka 4.x (https://kafka.apache.org/documentation/#topicconfigs).
KNOWN_TOPIC_CONFIGS = frozenset(
    {
        "cleanup.policy",
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.type",
        "compression.zstd.level",
        "delete.retention.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "follower.replication.throttled.replicas",
        "index.interval.bytes",
        "leader.replication.throttled.replicas",
        "local.retention.bytes",
        "local.retention.ms",
        "max.compaction.lag.ms",
        "max.message.bytes",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.type",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "min.insync.replicas",
        "preallocate",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
        "remote.storage.enable",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.index.bytes",
        "segment.jitter.ms",
        "segment.ms",
        "unclean.leader.election.enable",
    }
)

CLEANUP_POLICIES = frozenset({"delete", "compact", "compact,delete", "delete,compact"})
COMPRESSION_TYPES = frozenset({"uncompressed", "producer", "gzip", "snappy", "lz4", "zstd"})

# Values that are -1 (unlimited) or a count/size/duration.
_INTEGER_SUFFIXES = (".ms", ".bytes", ".messages", ".replicas")
_AT_LEAST_ONE = frozenset({"max.message.bytes", "min.insync.replicas", "segment.bytes"})


def check_topic_config(key: str, value: str) -> None:
    """Reject unknown keys and obviously wrong values.

    Args:
        key: A topic config name.
        value: Its value as Kafka text.

    Raises:
        ValueError: Naming the key and what is wrong (pydantic turns it into a field error).
    """
    if key not in KNOWN_TOPIC_CONFIGS:
        raise ValueError(f"{key!r} is not a Kafka topic config")
    if key == "cleanup.policy" and normalize_config_value(key, value) not in CLEANUP_POLICIES:
        raise ValueError(f"cleanup.policy must be one of {sorted(CLEANUP_POLICIES)}, got {value!r}")
    if key == "compression.type" and value not in COMPRESSION_TYPES:
        raise ValueError(
            f"compression.type must be one of {sorted(COMPRESSION_TYPES)}, got {value!r}"
        )
    if key.endswith(_INTEGER_SUFFIXES) and not key.endswith("throttled.replicas"):
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{key} must be an integer, got {value!r}") from None
        lowest = 1 if key in _AT_LEAST_ONE else -1
        if number < lowest:
            raise ValueError(f"{key} must be >= {lowest}, got {number}")


def normalize_config_value(key: str, value: str) -> str:
    """Canonical text of a config value, so equal settings compare equal.

    Kafka keeps list values as written ("compact, delete"); the order and spaces carry no
    meaning for ``cleanup.policy``.
    """
    if key == "cleanup.policy":
        return ",".join(sorted(part.strip() for part in value.split(",") if part.strip()))
    return value.strip()
