"""Which version scores an event: a stable hash of its entity key against the plan's weight.

The hash is keyed by the plan id, not by the process: every worker, and a worker after a restart,
sends the same keys to the candidate. A key's bucket does not depend on the weight, so raising the
weight (1 → 5 → 25 %) only ever adds keys, and a key served by the candidate at 1 % stays with it.
Mirroring (shadow, and the paired comparison of a guarded rollout) samples by event key with a
different salt, so the mirrored sample is independent of the canary split.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from engine.rollout.plan import RolloutPlan

#: Buckets per key space: weights resolve to 0.01 %.
BUCKETS = 10_000
_CACHE_LIMIT = 200_000


def key_bucket(key: str, salt: str) -> int:
    """The key's bucket in ``[0, BUCKETS)`` for a salt: the same in every process, on every machine."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, key=salt.encode()[:64]).digest()
    return int.from_bytes(digest, "big") % BUCKETS


@dataclass(frozen=True, slots=True)
class Split:
    """Positions (into a batch's events) by role: champion and candidate partition the events;
    ``mirror`` are champion-served events the candidate scores too, for the mirror topic (or, with
    ``mirror_of_candidate``, candidate-served events the champion scores too)."""

    champion: list[int]
    candidate: list[int]
    mirror: list[int]
    #: At a weight of 100 % nothing is champion-served: the mirror sample is then drawn from the
    #: candidate's events, and the champion scores them beside it (the comparison goes on).
    mirror_of_candidate: bool = False


class KeyRouter:
    """Splits batches of entity keys by the current plan (buckets cached per plan, bounded)."""

    def __init__(self) -> None:
        self._plan_id = None
        self._canary: dict[str, int] = {}
        self._mirror: dict[str, int] = {}

    def split(self, keys: list[str], plan: RolloutPlan | None) -> Split:
        """Who scores each of ``keys`` (positions) under ``plan`` (None: the champion, all of them)."""
        everyone = list(range(len(keys)))
        if plan is None or not plan.active:
            return Split(everyone, [], [])
        self._reset_if_new(plan.plan_id)
        weight = round(plan.candidate_weight * BUCKETS / 100.0)
        rate = round(plan.candidate_mirror_rate * BUCKETS)
        champion, candidate, mirror = [], [], []
        everyone_to_candidate = weight >= BUCKETS
        for position, key in enumerate(keys):
            if weight and self._bucket(self._canary, key, plan.plan_id) < weight:
                candidate.append(position)
                if not everyone_to_candidate:
                    continue
            else:
                champion.append(position)
            if rate and self._bucket(self._mirror, key, plan.plan_id + "/mirror") < rate:
                mirror.append(position)
        return Split(champion, candidate, mirror, everyone_to_candidate)

    def _reset_if_new(self, plan_id: str) -> None:
        if plan_id != self._plan_id or len(self._canary) + len(self._mirror) > _CACHE_LIMIT:
            self._plan_id = plan_id
            self._canary.clear()
            self._mirror.clear()

    @staticmethod
    def _bucket(cache: dict[str, int], key: str, salt: str) -> int:
        bucket = cache.get(key)
        if bucket is None:
            bucket = cache[key] = key_bucket(key, salt)
        return bucket
