"""Scores ⋈ labels by event id, whichever arrives first, with expiry of the halves that never match.

The table lives in a :class:`JoinStore`: a plain dict in tests, a faust changelog-backed table in the
app (:class:`engine.learn.faust_store.FaustTableStore`). Every write names the source partition, so
the changelog stays co-partitioned with the output and labels topics (both keyed by the entity).
An entry is one small orjson document; the sampled input event's features may ride along so that the
shadow learners can learn from the example when its label arrives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson


class JoinStore(Protocol):
    """Key → value bytes, with writes that know their partition."""

    def get(self, key: bytes) -> bytes | None:
        """The value, or ``None``."""

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Set ``key``, recording the write on ``partition``."""

    def delete(self, partition: int, key: bytes) -> None:
        """Remove ``key``, recording the deletion on ``partition``."""

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every entry."""

    def __len__(self) -> int:
        """Number of entries."""


class DictJoinStore(dict):
    """In-memory :class:`JoinStore` (tests, tools)."""

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Set ``key``."""
        self[key] = value

    def delete(self, partition: int, key: bytes) -> None:
        """Remove ``key`` if present."""
        self.pop(key, None)


@dataclass(frozen=True, slots=True)
class JoinedExample:
    """A scored event whose label arrived: what the detectors and learners consume."""

    event_id: str
    key: bytes
    partition: int
    score: float
    model_name: str
    model_version: str
    event_time: int
    label: int
    label_time: int
    features: list[float] | None
    order: str  # "score_first" or "label_first"
    learn_only: bool = False  # features that came after the pair was already monitored: learners only


@dataclass
class ExpiryCounts:
    """Entries dropped by one sweep, by what they were still waiting for."""

    score_only: int = 0      # a score whose label never came within the TTL
    label_only: int = 0      # a label whose score never came (or a duplicate label)
    features_only: int = 0   # a sampled input event that was never scored
    features_missing: int = 0  # a joined pair whose sampled input never came (nothing learned)
    over_capacity: int = 0   # dropped early because the table was full

    @property
    def total(self) -> int:
        """All dropped entries."""
        return self.score_only + self.label_only + self.features_only + self.features_missing + self.over_capacity


@dataclass
class JoinCounters:
    """Running totals since start (or restore)."""

    joined: dict[str, int] = field(default_factory=lambda: {"score_first": 0, "label_first": 0})
    expired: ExpiryCounts = field(default_factory=ExpiryCounts)


class ScoreLabelJoin:
    """Joins scores, labels and (optionally) features of one event, expiring what stays unmatched.

    Args:
        store: Where entries live.
        ttl_ms: How long an incomplete entry waits, from its first half's arrival (wall clock).
        max_pending: Oldest entries are dropped early beyond this many.
    """

    def __init__(self, store: JoinStore, ttl_ms: int, max_pending: int) -> None:
        self.store = store
        self.ttl_ms = ttl_ms
        self.max_pending = max_pending
        self.counters = JoinCounters()
        self._index: deque[tuple[int, bytes]] = deque()  # (created_ms, key) in arrival order
        self._indexed = False

    def add_score(self, partition: int, key: bytes, event_id: str, score: float, model_name: str,
                  model_version: str, event_time: int, now_ms: int,
                  expect_features: bool = False) -> JoinedExample | None:
        """Record a score; the joined example if its label was already waiting.

        With ``expect_features`` a pair completed before its input event's features is still returned
        (for the champion's detectors) and its entry waits for the features, for the learners.
        """
        return self._merge(partition, event_id, now_ms, expect_features,
                           {"k": key.decode(errors="replace"), "s": score, "m": model_name, "v": model_version,
                            "t": event_time})

    def add_label(self, partition: int, key: bytes, event_id: str, label: int, label_time: int,
                  event_time: int, now_ms: int, expect_features: bool = False) -> JoinedExample | None:
        """Record a label; the joined example if its score was already waiting (see :meth:`add_score`)."""
        return self._merge(partition, event_id, now_ms, expect_features,
                           {"k": key.decode(errors="replace"), "y": label, "lt": label_time, "t": event_time})

    def add_features(self, partition: int, key: bytes, event_id: str, features: Sequence[float], event_time: int,
                     now_ms: int) -> JoinedExample | None:
        """Attach a sampled input event's features (normally before its score); a ``learn_only`` example
        if its pair was already joined without them."""
        return self._merge(partition, event_id, now_ms, False,
                           {"k": key.decode(errors="replace"), "x": features, "t": event_time})

    def _merge(self, partition: int, event_id: str, now_ms: int, expect_features: bool,
               fields: dict) -> JoinedExample | None:
        key = event_id.encode()
        raw = self.store.get(key)
        first = None
        if raw is None:
            entry = {"p": partition, "at": now_ms, **fields}
        else:
            entry = orjson.loads(raw)
            if entry.get("c"):  # pair already monitored, waiting for its features only
                if "x" not in fields:
                    return None  # a redelivered score or label of a joined pair
                self.store.delete(partition, key)
                return self._example(event_id, partition, {**entry, **fields}, entry["o"], learn_only=True)
            first = "score_first" if "s" in entry else "label_first"
            entry.update(fields)
        if "s" not in entry or "y" not in entry:
            self._put(partition, key, entry, raw is None, now_ms)
            return None
        order = first or "score_first"
        self.counters.joined[order] += 1
        if expect_features and "x" not in entry:
            self._put(partition, key, {**entry, "c": 1, "o": order}, raw is None, now_ms)
        else:
            self.store.delete(partition, key)
        return self._example(event_id, partition, entry, order)

    def _put(self, partition: int, key: bytes, entry: dict, new: bool, now_ms: int) -> None:
        # float32 feature rows serialise at their own precision: ~3x smaller changelog records.
        self.store.put(partition, key, orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY))
        if new:
            self._index.append((now_ms, key))

    @staticmethod
    def _example(event_id: str, partition: int, entry: dict, order: str, learn_only: bool = False) -> JoinedExample:
        features = entry.get("x")
        if features is not None and not isinstance(features, list):
            features = features.tolist()  # a numpy row that has not been through the store
        return JoinedExample(
            event_id=event_id, key=entry["k"].encode(), partition=partition, score=float(entry["s"]),
            model_name=entry["m"], model_version=entry["v"], event_time=int(entry["t"]), label=int(entry["y"]),
            label_time=int(entry["lt"]), features=features, order=order, learn_only=learn_only,
        )

    @property
    def pending(self) -> int:
        """Entries waiting for their other half."""
        return len(self.store)

    def expire(self, now_ms: int) -> ExpiryCounts:
        """Drop entries older than the TTL, and the oldest beyond ``max_pending``."""
        if not self._indexed:
            self.rebuild_index()
        counts = ExpiryCounts()
        index = self._index
        while index:
            created, key = index[0]
            over = len(self.store) > self.max_pending
            if created + self.ttl_ms > now_ms and not over:
                break
            index.popleft()
            raw = self.store.get(key)
            if raw is None:
                continue  # completed (or already dropped) since
            entry = orjson.loads(raw)
            if entry.get("at") != created:
                continue  # a newer entry under the same id is indexed further on
            self.store.delete(entry["p"], key)
            if created + self.ttl_ms > now_ms:
                counts.over_capacity += 1
            elif entry.get("c"):
                counts.features_missing += 1
            elif "s" in entry:
                counts.score_only += 1
            elif "y" in entry:
                counts.label_only += 1
            else:
                counts.features_only += 1
        total = self.counters.expired
        total.score_only += counts.score_only
        total.label_only += counts.label_only
        total.features_only += counts.features_only
        total.features_missing += counts.features_missing
        total.over_capacity += counts.over_capacity
        return counts

    def rebuild_index(self) -> None:
        """Rebuild the expiry index from the store (after a changelog recovery)."""
        self._index = expiry_index(self.store)
        self._indexed = True


def expiry_index(store: JoinStore) -> deque[tuple[int, bytes]]:
    """``(created_ms, key)`` of every entry of ``store`` (its ``"at"`` field), oldest first; unreadable
    entries are left out. Shared by every join kept in a :class:`JoinStore`."""
    entries = []
    for key, raw in store.items():
        try:
            entries.append((int(orjson.loads(raw)["at"]), bytes(key)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    entries.sort()
    return deque(entries)
