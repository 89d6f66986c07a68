"""Per topic and partition, the next offset the learner's state already reflects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Positions:
    """Offsets covered by the in-memory state, saved with it in every checkpoint.

    After a restore, records below these offsets were already learned before the crash: the consumer
    may redeliver them (it commits on its own schedule), and they are skipped instead of learned twice.
    """

    def __init__(self) -> None:
        self._next: dict[str, dict[int, int]] = {}

    def fresh(self, topic: str, partition: int, offset: int) -> bool:
        """Whether this record is not yet reflected in the state."""
        return offset >= self._next.get(topic, {}).get(partition, 0)

    def advance(self, topic: str, records: Iterable[Any]) -> None:
        """Mark records (anything with ``partition`` and ``offset``) as reflected."""
        table = self._next.setdefault(topic, {})
        for record in records:
            if record.offset >= table.get(record.partition, 0):
                table[record.partition] = record.offset + 1

    def advance_to(self, topic: str, through: dict[int, int]) -> None:
        """Mark everything below ``through`` (partition → next offset) as reflected.

        For a reader's own positions: its start offsets (so a checkpoint remembers where a partition began
        before any record came) and the records it dropped by key, which no ``on_*`` method ever sees.
        """
        table = self._next.setdefault(topic, {})
        for partition, offset in through.items():
            # An explicit 0 matters: "starts at 0" survives a restart, "never seen" resolves ``latest`` again.
            if partition not in table or offset > table[partition]:
                table[partition] = offset

    def of(self, topic: str) -> dict[int, int]:
        """partition → next offset, for one topic."""
        return dict(self._next.get(topic, {}))

    def __repr__(self) -> str:
        return f"Positions({self._next!r})"
