"""Ranked lists ⋈ per-item feedback by request id, whichever comes first, with expiry of what never matches.

One entry per request id in a :class:`~engine.learn.join.JoinStore` (a faust changelog-backed table in
the app), holding up to three halves: the champion's ranked list (output topic), the feedback records of
its shown items (one per item, seconds apart) and, for the challengers, the request itself (input topic:
candidates and context). A list is *complete* once every ranked item has its feedback; the champion is
judged then. If the request is still missing, the entry waits for it so the challengers can learn
(``learn_only``), as the per-event join waits for features.

When the TTL passes, an entry with a ranked list and some feedback is still judged (``partial``: the
client showed fewer items than ranked, or feedback was lost); entries with only one half are counted by
what they waited for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.learn.join import JoinStore, expiry_index


@dataclass(frozen=True, slots=True)
class RankedHalf:
    """The champion's list for one request, in rank order."""

    items: list[str]
    scores: list[float]
    model_name: str
    model_version: str
    request_time: int


@dataclass(frozen=True, slots=True)
class JoinedList:
    """A ranked list with the feedback of its shown items: what the ranking detectors and learners consume.

    Attributes:
        shown: item → (position, clicked, feedback_time) for every item with feedback.
        request: ``{"candidates": [...], "context": {...}, "categorical": {...}, "user": ...}`` when the
            request was sampled and arrived; None otherwise.
        order: ``ranked_first`` or ``feedback_first`` (which half reached the learner first).
        complete: Every ranked item had feedback (False: judged at expiry with what came).
        learn_only: The champion was already judged; only the challengers use it (the request came late).
    """

    request_id: str
    key: bytes
    partition: int
    ranked: RankedHalf
    shown: dict[str, tuple[int, bool, int]]
    request: dict[str, Any] | None
    order: str
    complete: bool = True
    learn_only: bool = False

    @property
    def feedback_time(self) -> int:
        """When the last feedback of the list was recorded."""
        return max(t for _, _, t in self.shown.values())


@dataclass
class RankingExpiry:
    """Entries dropped (or judged partially) by one sweep, by what they were still waiting for."""

    partial: int = 0            # ranked list with some feedback: judged with what came
    ranked_only: int = 0        # a ranked list that never got feedback (never shown?)
    feedback_only: int = 0      # feedback whose ranked list never came
    request_only: int = 0       # a sampled request that was never ranked
    request_missing: int = 0    # a judged list whose sampled request never came (challengers learned nothing)
    over_capacity: int = 0      # dropped early because the table was full

    def add(self, other: RankingExpiry) -> None:
        """Accumulate ``other`` into this one."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        """Field → count."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class RankingJoinCounters:
    """Running totals since start (or restore)."""

    joined: dict[str, int] = field(default_factory=lambda: {"ranked_first": 0, "feedback_first": 0})
    duplicate_feedback: int = 0
    expired: RankingExpiry = field(default_factory=RankingExpiry)


class RankedFeedbackJoin:
    """Joins a request's ranked list, its per-item feedback and (optionally) the request itself.

    Args:
        store: Where entries live.
        ttl_ms: How long an entry waits from its first half's arrival (wall clock).
        max_pending: Oldest entries are dropped early beyond this many.
    """

    def __init__(self, store: JoinStore, ttl_ms: int, max_pending: int) -> None:
        self.store = store
        self.ttl_ms = ttl_ms
        self.max_pending = max_pending
        self.counters = RankingJoinCounters()
        self._index: deque[tuple[int, bytes]] = deque()
        self._indexed = False

    # --- the three halves ------------------------------------------------------------------------------

    def add_ranked(self, partition: int, key: bytes, request_id: str, ranked: RankedHalf, now_ms: int,
                   expect_request: bool = False) -> JoinedList | None:
        """Record a ranked list; the joined list if all its feedback was already waiting."""
        half = {"r": [[item, score] for item, score in zip(ranked.items, ranked.scores)],
                "m": ranked.model_name, "v": ranked.model_version, "t": ranked.request_time}
        return self._merge(partition, key, request_id, now_ms, expect_request, half)

    def add_feedback(self, partition: int, key: bytes, request_id: str, item_id: str, position: int,
                     clicked: bool, feedback_time: int, now_ms: int,
                     expect_request: bool = False) -> JoinedList | None:
        """Record one shown item's feedback; the joined list if it was the last one missing."""
        return self._merge(partition, key, request_id, now_ms, expect_request,
                           {"f": {item_id: [position, bool(clicked), feedback_time]}})

    def add_request(self, partition: int, key: bytes, request_id: str, request: dict[str, Any],
                    now_ms: int) -> JoinedList | None:
        """Attach a sampled request (candidates, context); a ``learn_only`` list if the champion was
        already judged without it."""
        return self._merge(partition, key, request_id, now_ms, False, {"q": request})

    # --- merging ---------------------------------------------------------------------------------------

    def _merge(self, partition: int, key: bytes, request_id: str, now_ms: int, expect_request: bool,
               half: dict[str, Any]) -> JoinedList | None:
        id_key = request_id.encode()
        raw = self.store.get(id_key)
        first = None
        if raw is None:
            entry: dict[str, Any] = {"p": partition, "at": now_ms, "k": key.decode(errors="replace"), **half}
        else:
            entry = orjson.loads(raw)
            if entry.get("c"):  # champion judged; waiting only for the request
                if "q" not in half:
                    return None  # redelivered ranked list or feedback of a judged list
                self.store.delete(partition, id_key)
                entry.update(half)
                return self._joined(request_id, entry, entry["o"], complete=bool(entry.get("ok", 1)),
                                    learn_only=True)
            first = "ranked_first" if "r" in entry else ("feedback_first" if "f" in entry else None)
            if "f" in half and "f" in entry:
                item = next(iter(half["f"]))
                if item in entry["f"]:
                    self.counters.duplicate_feedback += 1
                    return None
                entry["f"][item] = half["f"][item]
            elif "r" in half and "r" in entry:
                return None  # a redelivered ranked list
            else:
                entry.update(half)
        if "r" not in entry or "f" not in entry or len(entry["f"]) < len(entry["r"]):
            self._put(partition, id_key, entry, raw is None, now_ms)
            return None
        order = first or ("feedback_first" if "f" not in half else "ranked_first")
        return self._complete(request_id, partition, id_key, entry, order, expect_request, raw is None, now_ms)

    def _complete(self, request_id: str, partition: int, id_key: bytes, entry: dict, order: str,
                  expect_request: bool, new: bool, now_ms: int, complete: bool = True) -> JoinedList:
        self.counters.joined[order] += 1
        if expect_request and "q" not in entry:
            self._put(partition, id_key, {**entry, "c": 1, "o": order, "ok": int(complete)}, new, now_ms)
        else:
            self.store.delete(partition, id_key)
        return self._joined(request_id, entry, order, complete=complete)

    def _put(self, partition: int, key: bytes, entry: dict, new: bool, now_ms: int) -> None:
        self.store.put(partition, key, orjson.dumps(entry))
        if new:
            self._index.append((now_ms, key))

    @staticmethod
    def _joined(request_id: str, entry: dict, order: str, complete: bool = True,
                learn_only: bool = False) -> JoinedList:
        ranked = RankedHalf([item for item, _ in entry["r"]], [float(score) for _, score in entry["r"]],
                            entry["m"], entry["v"], int(entry["t"]))
        shown = {item: (int(p), bool(c), int(t)) for item, (p, c, t) in entry["f"].items()}
        return JoinedList(request_id, entry["k"].encode(), int(entry["p"]), ranked, shown, entry.get("q"),
                          order, complete=complete, learn_only=learn_only)

    # --- housekeeping ----------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Entries waiting for another half."""
        return len(self.store)

    def expire(self, now_ms: int, expect_request: bool = False) -> tuple[RankingExpiry, list[JoinedList]]:
        """Drop entries older than the TTL (and the oldest beyond ``max_pending``); lists that have a
        ranking and some feedback are returned to be judged (``complete=False``)."""
        if not self._indexed:
            self.rebuild_index()
        counts, judged = RankingExpiry(), []
        index = self._index
        while index:
            created, key = index[0]
            over = len(self.store) > self.max_pending
            if created + self.ttl_ms > now_ms and not over:
                break
            index.popleft()
            raw = self.store.get(key)
            if raw is None:
                continue
            entry = orjson.loads(raw)
            if entry.get("at") != created:
                continue
            self.store.delete(entry["p"], key)
            if created + self.ttl_ms > now_ms:
                counts.over_capacity += 1
            elif entry.get("c"):
                counts.request_missing += 1
            elif "r" in entry and "f" in entry:
                counts.partial += 1
                order = "ranked_first"  # unknown after a restart; only the count by order is affected
                self.counters.joined[order] += 1
                judged.append(self._joined(key.decode(), entry, order, complete=False))
            elif "r" in entry:
                counts.ranked_only += 1
            elif "f" in entry:
                counts.feedback_only += 1
            else:
                counts.request_only += 1
        self.counters.expired.add(counts)
        return counts, judged

    def rebuild_index(self) -> None:
        """Rebuild the expiry index from the store (after a changelog recovery)."""
        self._index = expiry_index(self.store)
        self._indexed = True


def ranked_half(record: dict[str, Any], items_field: str = "items") -> RankedHalf:
    """A :class:`RankedHalf` from a decoded output record (``items`` sorted by rank)."""
    items: Sequence[dict[str, Any]] = sorted(record[items_field], key=lambda it: int(it["rank"]))
    return RankedHalf([str(it["item_id"]) for it in items], [float(it["score"]) for it in items],
                      str(record["model"]["name"]), str(record["model"]["version"]),
                      int(record.get("request_time", 0)))
