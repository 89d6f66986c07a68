"""The join's :class:`~engine.learn.join.JoinStore` on a faust table: in memory, durable through its changelog.

faust only lets ``table[key] = value`` run while a stream event is current, and then writes the changelog
to that event's partition. The learner handles records in batches (``take_events``) and from the
transactions reader, so it writes the memory store and the changelog explicitly, naming the source
partition — the same partition faust itself would pick — which keeps recovery co-partitioned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class FaustTableStore:
    """A faust ``Table`` (bytes keys and values) seen as a partition-aware key-value store.

    Args:
        table: ``app.Table(..., key_type=bytes, value_type=bytes)``.
    """

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: bytes) -> bytes | None:
        """The current value, or ``None``."""
        return self.table.data.get(key)

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Set in memory and append to the changelog partition."""
        self.table.data[key] = value
        self.table.send_changelog(partition, key, value)

    def delete(self, partition: int, key: bytes) -> None:
        """Remove in memory and write a tombstone (what faust's own ``del table[key]`` sends)."""
        self.table.data.pop(key, None)
        self.table.send_changelog(partition, key, None, value_serializer="raw")

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every entry (after recovery: what the changelog restored)."""
        return list(self.table.data.items())

    def __len__(self) -> int:
        return len(self.table.data)
