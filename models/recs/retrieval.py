"""Candidate retrieval of the synthetic world: which items a request asks to rank.

Real candidate lists mix sources; so do these: trending items (popularity-weighted),
items from the user's taste cluster as the retrieval system last knew it, uniform
exploration of the catalogue, never-seen items, and - under drift - the new cohort.
Only items created before the request can be retrieved.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from models.recs.population import N_CLUSTERS
from models.recs.world import DriftLevels, RecsWorld

POPULAR, CLUSTER, UNIFORM, COLD, COHORT = range(5)
#: P(source) of a candidate slot at drift 0 (COHORT gets ``COHORT_SHARE * cohort drift`` on top).
SOURCE_MIX: Final[np.ndarray] = np.array([0.45, 0.30, 0.23, 0.02, 0.0])
COHORT_SHARE: Final[float] = 0.15


class CandidateSampler:
    """Draws candidate item indices for a block of requests, vectorised.

    Args:
        world: The world whose catalogue is sampled.
        cold_item_share: Share of slots filled with items outside the catalogue.
    """

    def __init__(self, world: RecsWorld, cold_item_share: float = 0.02) -> None:
        self._world = world
        mix = SOURCE_MIX.copy()
        mix[UNIFORM] += mix[COLD] - cold_item_share
        mix[COLD] = cold_item_share
        self._mix = mix
        items = world.items
        n = items.n_regular
        self._created = items.created_ms[:n]  # ascending: the catalogue is in creation order
        # Items sorted by (cluster, index): a cluster's available items are a prefix of its run.
        order = np.lexsort((np.arange(n), items.cluster[:n]))
        self._by_cluster = order
        self._cluster_keys = items.cluster[:n][order] * np.int64(n + 1) + order
        self._cluster_start = np.searchsorted(items.cluster[:n][order], np.arange(N_CLUSTERS))
        self._drift = None
        self._popular_cumulative = np.zeros(0)
        self._cohort_cumulative = np.zeros(0)

    def _weights_for(self, drift: DriftLevels) -> None:
        if self._drift == drift:
            return
        popularity = np.exp(self._world.log_popularity(drift))
        n = self._world.items.n_regular
        self._popular_cumulative = np.cumsum(popularity[:n])
        self._cohort_cumulative = np.cumsum(popularity[n:])
        self._drift = drift

    def sample(self, rng: np.random.Generator, time_ms: np.ndarray, cluster: np.ndarray,
               drift: float | DriftLevels) -> tuple[np.ndarray, np.ndarray]:
        """Draw one candidate per slot.

        Args:
            rng: Random source.
            time_ms: Request time of each slot.
            cluster: Retrieval cluster of each slot's user.
            drift: Drift level, a float or per kind (``popularity`` moves the popular source's weights,
                ``cohort`` opens the cohort source).

        Returns:
            (catalogue index per slot, -1 for a never-seen item; source per slot).
        """
        levels = DriftLevels.of(drift)
        self._weights_for(levels)
        n_slots = len(time_ms)
        mix = self._mix.copy()
        mix[COHORT] = COHORT_SHARE * levels.cohort
        source = rng.choice(len(mix), size=n_slots, p=mix / mix.sum())
        uniform = rng.random(n_slots)
        available = np.maximum(np.searchsorted(self._created, time_ms, side="right"), 1)
        index = np.full(n_slots, -1, np.int64)

        popular = np.flatnonzero(source == POPULAR)
        cut = self._popular_cumulative[available[popular] - 1]
        index[popular] = np.minimum(
            np.searchsorted(self._popular_cumulative, uniform[popular] * cut, side="right"), available[popular] - 1
        )

        spread = np.flatnonzero(source == UNIFORM)
        index[spread] = (uniform[spread] * available[spread]).astype(np.int64)

        local = np.flatnonzero(source == CLUSTER)
        n = self._world.items.n_regular
        start = self._cluster_start[cluster[local]]
        end = np.searchsorted(self._cluster_keys, cluster[local] * np.int64(n + 1) + available[local])
        count = end - start
        has = count > 0
        picks = start + (uniform[local] * count).astype(np.int64)
        index[local[has]] = self._by_cluster[picks[has]]
        # A cluster with nothing created yet falls back to exploring the catalogue.
        index[local[~has]] = (uniform[local[~has]] * available[local[~has]]).astype(np.int64)

        cohort = np.flatnonzero(source == COHORT)
        if cohort.size:
            total = self._cohort_cumulative[-1]
            index[cohort] = n + np.minimum(
                np.searchsorted(self._cohort_cumulative, uniform[cohort] * total, side="right"),
                len(self._cohort_cumulative) - 1,
            )
        return index, source
