"""Seeded, vectorised stream of recs.requests events, their feedback and training logs."""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterator
from typing import Any, Final

import numpy as np

from models.recs.click_log import ClickLog, positions_in_segments
from models.recs.constants import DEVICES, SCHEMA_VERSION, SURFACES
from models.recs.hashing import hash_ids
from models.recs.population import DEVICE_MIX, HOUR_MS
from models.recs.retrieval import CandidateSampler
from models.recs.world import (
    DEFAULT_START_MS,
    DriftLevels,
    RecsWorld,
    device_index,
    examination_probability,
    sigmoid,
    surface_index,
)

#: Requests are generated in blocks of this size, each from its own seeded random
#: source, so the stream does not depend on how callers slice it.
BLOCK_SIZE: Final[int] = 1024
SURFACE_MIX: Final[np.ndarray] = np.array([0.5, 0.2, 0.2, 0.1])
USUAL_DEVICE_SHARE: Final[float] = 0.8
K_CHOICES: Final[tuple[int, ...]] = (5, 10, 10, 20, 50)
K_SHARE: Final[float] = 0.5  # requests that carry an explicit k
DUPLICATE_SHARE: Final[float] = 0.01  # requests that repeat a candidate (the engine de-duplicates)


class RecsStream:
    """An endless, deterministic stream of ranking requests in a synthetic world.

    The world (users, items, tastes) is fixed by ``seed``; drift changes what users
    like and what is popular, not who they are. The same arguments give the same
    events however the stream is sliced, for the same drift settings at the same points.

    Args:
        seed: Seed of the world and the stream.
        drift: Drift level in [0, 1]: 0 is the training world; 1 moves tastes towards
            another cluster, reshuffles popularity and puts a new item cohort in front
            of users, boosted to the head of the popularity curve.
        n_users: Known users (a ``cold_user_share`` of requests come from unseen ones).
        n_items: Regular catalogue size; some of it arrives during the stream.
        candidates: (lo, hi) distinct candidates per request, inclusive, before de-duplication.
        start_ms: Stream start; defaults to 2025-01-01 (not "now", which would break determinism).
        requests_per_second: Mean request rate (Poisson arrivals).
        cold_user_share: Share of requests from users outside the world's known users.
        cold_item_share: Share of candidates outside the catalogue.
        click_window_ms: How long after an impression a click still counts; an
            impression without a click is reported when the window closes.
        kinds: Which kinds of drift (``models.recs.world.DRIFT_KINDS``: ``taste``, ``cohort``,
            ``popularity``) ``drift`` moves; the others stay at 0. None (the default) moves all
            three, exactly as a stream without kinds.
    """

    def __init__(self, seed: int = 7, drift: float = 0.0, n_users: int = 5000, n_items: int = 8000,
                 candidates: tuple[int, int] = (20, 100), start_ms: int | None = None,
                 requests_per_second: float = 50.0, cold_user_share: float = 0.03,
                 cold_item_share: float = 0.02, click_window_ms: int = 30_000,
                 kinds: Collection[str] | None = None) -> None:
        lo, hi = candidates
        if not 1 <= lo <= hi <= 500:
            raise ValueError(f"candidates must satisfy 1 <= lo <= hi <= 500, got {candidates}")
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.seed = seed
        self._start_ms = DEFAULT_START_MS if start_ms is None else int(start_ms)
        self._world = RecsWorld(seed, n_users=n_users, n_items=n_items, origin_ms=self._start_ms)
        self._sampler = CandidateSampler(self._world, cold_item_share)
        self._candidates = (lo, hi)
        self._gap_ms = 1000.0 / requests_per_second
        self._cold_user_share = cold_user_share
        self._click_window_ms = int(click_window_ms)
        self._kinds = None if kinds is None else tuple(sorted(set(kinds)))
        if self._kinds is not None:
            DriftLevels.of(0.0, self._kinds)  # unknown kinds fail here, not at the first block
        self.drift = 0.0
        self._block_index = 0
        self._block_start_ms = float(self._start_ms)  # float: no rounding drift across blocks
        self._previous_start_ms = self._block_start_ms  # where the current block began
        self._block: tuple[list[dict[str, Any]], ClickLog] | None = None
        self._read = 0
        self.set_drift(drift)

    @property
    def world(self) -> RecsWorld:
        """The world behind the stream (for analysis and tests)."""
        return self._world

    @property
    def drift_levels(self) -> DriftLevels:
        """The current drift per kind (kinds this stream does not drift are at 0)."""
        return DriftLevels.of(self.drift, self._kinds)

    def _world_drift(self) -> float | DriftLevels:
        # Without kinds the world gets the plain float, as it always did.
        return self.drift if self._kinds is None else self.drift_levels

    def set_drift(self, drift: float) -> None:
        """Change the drift level of the requests not served yet.

        The rest of the current block is regenerated from the same random source at
        the new drift, so the change is immediate and still deterministic.

        Args:
            drift: Drift level in [0, 1].
        """
        if not 0.0 <= drift <= 1.0:
            raise ValueError(f"drift must be in [0, 1], got {drift}")
        if drift != self.drift and self._block is not None:
            self.drift = float(drift)
            requests, log, _ = self._generate_block(self._block_index - 1, self._previous_start_ms)
            self._block = requests, log
        self.drift = float(drift)

    def requests(self, n: int) -> Iterator[dict[str, Any]]:
        """Yield the next ``n`` recs.requests events, in request-time order.

        The stream advances as the iterator is consumed, a block segment at a time;
        abandoning it part-way skips the rest of the segment it was in.
        """
        for requests, _, start, stop in self._take(n):
            yield from requests[start:stop]

    def training_log(self, n: int) -> ClickLog:
        """The next ``n`` requests with the world's truth for each distinct candidate.

        Args:
            n: Number of requests (taken from the stream, like :meth:`requests`).

        Returns:
            The log; its rows line up with ``request_tensors(log.requests, ...)``.
        """
        parts = []
        for _, log, start, stop in self._take(n):
            mask = np.zeros(len(log), bool)
            mask[start:stop] = True
            parts.append(log if stop - start == len(log) else log.take(mask))
        return ClickLog.concat(parts) if parts else ClickLog.empty()

    def feedback(self, request: dict[str, Any], ranked_item_ids: list[str],
                 impression_time_ms: int | None = None) -> list[dict[str, Any]]:
        """Impressions and clicks for a ranked list shown to the request's user.

        Clicks follow the position-based model (examination decays with position) at the
        stream's current drift, drawn from a random source seeded by the request id, so
        replaying the same request and list gives the same feedback.

        Args:
            request: A recs.requests event (from this stream, or any with known context values).
            ranked_item_ids: The list shown, best first (position 1 first).
            impression_time_ms: When it was shown; defaults to the request time plus a
                short render delay.

        Returns:
            One recs.feedback record per shown item, in position order.
        """
        n = len(ranked_item_ids)
        if n == 0:
            return []
        rng = np.random.default_rng([self.seed, int(hash_ids([request["request_id"]], salt=self.seed)[0])])
        drift = self._world_drift()
        user = self._world.resolve_users([request["user_id"]], drift)
        ids = np.asarray(ranked_item_ids, dtype=np.str_)
        items = self._world.view_items(self._world.item_index(ids), drift, ids)
        context = request["context"]
        logit = self._world.relevance_logit(
            np.repeat(user.taste, n, axis=0), items, device_index([context["device"]] * n),
            surface_index([context["surface"]] * n), np.full(n, context["hour"]),
        )
        position = np.arange(1, n + 1)
        clicked = rng.random(n) < sigmoid(logit) * examination_probability(position)
        render_ms = int(rng.lognormal(np.log(120.0), 0.5))
        shown = int(request["request_time"]) + render_ms if impression_time_ms is None else int(impression_time_ms)
        # Clicks come seconds later; a non-click is only known once the click window closes.
        delay = np.clip(rng.lognormal(np.log(3000.0), 0.9, n), 200, self._click_window_ms).astype(np.int64)
        feedback_time = shown + np.where(clicked, delay, self._click_window_ms)
        return [
            {"schema_version": SCHEMA_VERSION, "request_id": request["request_id"], "user_id": request["user_id"],
             "item_id": item, "position": p, "clicked": c, "impression_time": shown, "feedback_time": t}
            for item, p, c, t in zip(ranked_item_ids, position.tolist(), clicked.tolist(), feedback_time.tolist())
        ]

    def _take(self, n: int) -> Iterator[tuple[list[dict[str, Any]], ClickLog, int, int]]:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        while n > 0:
            if self._block is None or self._read == BLOCK_SIZE:
                self._previous_start_ms = self._block_start_ms
                requests, log, self._block_start_ms = self._generate_block(self._block_index, self._block_start_ms)
                self._block = requests, log
                self._block_index += 1
                self._read = 0
            start = self._read
            self._read = min(BLOCK_SIZE, start + n)
            n -= self._read - start
            yield self._block[0], self._block[1], start, self._read

    def _generate_block(self, block: int, start_ms: float) -> tuple[list[dict[str, Any]], ClickLog, float]:
        """Block ``block`` of the stream at the current drift, and where the next block starts."""
        # Its own random source: regenerating a block (set_drift) repeats its clock and users.
        rng = np.random.default_rng([self.seed, self._start_ms, block])
        world, drift, size = self._world, self._world_drift(), BLOCK_SIZE
        arrival = start_ms + np.cumsum(rng.exponential(self._gap_ms, size))
        time_ms = arrival.astype(np.int64)
        number = block * size + np.arange(size)
        cold_user = rng.random(size) < self._cold_user_share
        user = rng.choice(len(world.users), size=size, p=world.users.activity)
        user_ids = np.where(cold_user, [f"u-new-{self.seed}-{i}" for i in number.tolist()], world.user_ids[user])
        users = world.resolve_users(user_ids.astype(np.str_), drift)
        device = np.where(rng.random(size) < USUAL_DEVICE_SHARE, users.device,
                          rng.choice(len(DEVICES), size=size, p=DEVICE_MIX))
        surface = rng.choice(len(SURFACES), size=size, p=SURFACE_MIX)
        hour = ((time_ms // HOUR_MS) + users.utc_offset) % 24

        lo, hi = self._candidates
        drawn = rng.integers(lo, hi + 1, size)
        slot_request = np.repeat(np.arange(size), drawn)
        index, _ = self._sampler.sample(rng, time_ms[slot_request], users.cluster[slot_request], drift)
        # De-duplicate within each request (the sources overlap), then shuffle each list so
        # that candidate order - the logged position - says nothing about relevance.
        key = np.where(index >= 0, slot_request * np.int64(len(world.items) + 1) + index, -1 - np.arange(len(index)))
        keep = np.zeros(len(index), bool)
        keep[np.unique(key, return_index=True)[1]] = True
        order = np.lexsort((rng.random(len(index)), slot_request))
        order = order[keep[order]]
        row_request, index = slot_request[order], index[order]
        item_ids = world.item_ids[np.maximum(index, 0)]
        cold_rows = np.flatnonzero(index < 0)
        item_ids[cold_rows] = [f"i-new-{self.seed}-{block}-{r}" for r in order[cold_rows].tolist()]
        counts = np.bincount(row_request, minlength=size)
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        position = positions_in_segments(counts) + 1

        items = world.view_items(index, drift, item_ids.astype(np.str_))
        logit = world.relevance_logit(users.taste[row_request], items, device[row_request], surface[row_request],
                                      hour[row_request])
        p_relevant = sigmoid(logit)
        relevant = rng.random(len(index)) < p_relevant
        clicked = relevant & (rng.random(len(index)) < examination_probability(position))
        k = np.where(rng.random(size) < K_SHARE, rng.choice(K_CHOICES, size=size), 0)
        duplicate = rng.random(size) < DUPLICATE_SHARE
        requests = _build_requests(self.seed, number, user_ids, item_ids.tolist(), offsets, k, duplicate,
                                   device, surface, hour, time_ms)
        log = ClickLog(requests, offsets, item_ids.astype(np.str_), position, p_relevant, relevant, clicked,
                       cold_user, index < 0)
        return requests, log, float(arrival[-1])


def _build_requests(seed: int, number: np.ndarray, user_ids: np.ndarray, item_ids: list[str], offsets: np.ndarray,
                    k: np.ndarray, duplicate: np.ndarray, device: np.ndarray, surface: np.ndarray, hour: np.ndarray,
                    time_ms: np.ndarray) -> list[dict[str, Any]]:
    # Thousands of small dicts trigger cyclic-GC passes that find nothing; pause it.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        requests = []
        bounds = offsets.tolist()
        for i, (n, user, kk, dup, d, s, h, t) in enumerate(zip(
                number.tolist(), user_ids.tolist(), k.tolist(), duplicate.tolist(), device.tolist(),
                surface.tolist(), hour.tolist(), time_ms.tolist())):
            candidates = item_ids[bounds[i]:bounds[i + 1]]
            if dup:
                candidates.append(candidates[0])
            event: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "request_id": f"r-{seed}-{n}",
                                     "user_id": user, "candidates": candidates}
            if kk:
                event["k"] = kk
            event["context"] = {"device": DEVICES[d], "surface": SURFACES[s], "hour": h}
            event["request_time"] = t
            requests.append(event)
        return requests
    finally:
        if was_enabled:
            gc.enable()
