"""The world's actors: users with tastes, habits and time zones; a catalogue of items.

Tastes are latent vectors around a few taste clusters (genres), so an item's clicks
tell the model something about its neighbours. Items carry a Zipf popularity, a
creation time (new items keep arriving), a time-of-day profile and device affinities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.recs.constants import DEVICES

LATENT_DIM = 16
N_CLUSTERS = 24
CLUSTER_NORM = 1.6  # |centroid|: same-cluster affinity ~ 2.6, cross-cluster ~ 0 +- 0.6
TASTE_NOISE = 0.6  # |individual deviation| from the centroid
ZIPF_EXPONENT = 1.05
DEVICE_MIX = np.array([.36, .34, .20, .10])  # P(device) of requests (DEVICES order)
HOUR_MS = 3_600_000


def centroids(rng: np.random.Generator) -> np.ndarray:
    """Taste-cluster centres [N_CLUSTERS, LATENT_DIM], each of norm ``CLUSTER_NORM``."""
    raw = rng.normal(size=(N_CLUSTERS, LATENT_DIM))
    return CLUSTER_NORM * raw / np.linalg.norm(raw, axis=1, keepdims=True)


def noise_table(rng: np.random.Generator, size: int = 4096) -> np.ndarray:
    """Random deviations [size, LATENT_DIM] of norm ~``TASTE_NOISE``.

    Cold users and items are not in the world's arrays; their taste is a centroid plus
    a row of this table picked by hashing the id, so it is the same in every process.
    """
    return rng.normal(scale=TASTE_NOISE / np.sqrt(LATENT_DIM), size=(size, LATENT_DIM))


@dataclass(frozen=True)
class Users:
    """Known users, one entry per user index (id ``u<index>``).

    Attributes:
        cluster: Taste cluster, also what the candidate retrieval believes about the user.
        taste: Latent taste [n, LATENT_DIM].
        shifted_taste: Where the taste moves under full drift (another cluster's centroid).
        activity: Relative request rate (long-tailed: a few heavy users).
        utc_offset: Time zone in whole hours (spread round the globe, so local hours vary).
        device: The user's usual device (position in DEVICES).
    """

    cluster: np.ndarray
    taste: np.ndarray
    shifted_taste: np.ndarray
    activity: np.ndarray
    utc_offset: np.ndarray
    device: np.ndarray

    @classmethod
    def sample(cls, rng: np.random.Generator, n: int, centres: np.ndarray) -> Users:
        """Draw ``n`` users around the taste clusters."""
        share = rng.dirichlet(np.full(N_CLUSTERS, 2.0))
        cluster = rng.choice(N_CLUSTERS, size=n, p=share)
        deviation = rng.normal(scale=TASTE_NOISE / np.sqrt(LATENT_DIM), size=(n, LATENT_DIM))
        # Drift moves each user to another cluster, keeping their individual deviation.
        other = (cluster + rng.integers(1, N_CLUSTERS, size=n)) % N_CLUSTERS
        activity = rng.lognormal(0.0, 1.0, size=n)
        return cls(
            cluster=cluster,
            taste=centres[cluster] + deviation,
            shifted_taste=centres[other] + deviation,
            activity=activity / activity.sum(),
            utc_offset=rng.integers(-11, 13, size=n),
            device=rng.choice(len(DEVICES), size=n, p=DEVICE_MIX),
        )

    def __len__(self) -> int:
        return len(self.cluster)


@dataclass(frozen=True)
class Items:
    """The catalogue, indexed by item index (id ``i<index>``), in creation order.

    The first ``n_regular`` items appear in every world; the last ``n_cohort`` are the
    drift cohort, which only drift puts in front of users.

    Attributes:
        cluster: Taste cluster.
        taste: Latent attributes [n, LATENT_DIM] (matched against user tastes).
        log_popularity: Zipf log-popularity, log(1 / rank^s): the long tail.
        shocked_log_popularity: The popularity after a full popularity shock (ranks reshuffled).
        created_ms: When the item appears (earlier items first; later ones arrive during the stream).
        hour_phase: Local hour at which the item is most attractive.
        hour_amplitude: How much the time of day matters for it (logit units).
        device_affinity: Logit offset per device [n, len(DEVICES)] (e.g. long videos on tv).
        n_regular: Items outside the drift cohort.
    """

    cluster: np.ndarray
    taste: np.ndarray
    log_popularity: np.ndarray
    shocked_log_popularity: np.ndarray
    created_ms: np.ndarray
    hour_phase: np.ndarray
    hour_amplitude: np.ndarray
    device_affinity: np.ndarray
    n_regular: int

    @classmethod
    def sample(cls, rng: np.random.Generator, n_regular: int, n_cohort: int, centres: np.ndarray,
               origin_ms: int, arriving_share: float, arrival_span_ms: int) -> Items:
        """Draw a catalogue.

        Args:
            rng: Random source.
            n_regular: Items of the ordinary catalogue.
            n_cohort: Items of the drift cohort (created at ``origin_ms``).
            centres: Taste-cluster centres.
            origin_ms: Stream start.
            arriving_share: Share of the regular catalogue created during the stream.
            arrival_span_ms: Over how long after ``origin_ms`` those items arrive.
        """
        n = n_regular + n_cohort
        share = rng.dirichlet(np.full(N_CLUSTERS, 2.0))
        cluster = rng.choice(N_CLUSTERS, size=n, p=share)
        taste = centres[cluster] + rng.normal(scale=TASTE_NOISE / np.sqrt(LATENT_DIM), size=(n, LATENT_DIM))
        # Popularity rank is independent of creation order: a new item can be a hit.
        rank = rng.permutation(n_regular) + 1.0
        log_popularity = -ZIPF_EXPONENT * np.log(rank)
        # The cohort is niche until drift makes it a hit (see RecsWorld.log_popularity).
        cohort_rank = n_regular * rng.uniform(0.2, 1.0, size=n_cohort)
        log_popularity = np.concatenate((log_popularity, -ZIPF_EXPONENT * np.log(cohort_rank)))
        shocked = log_popularity.copy()
        shocked[:n_regular] = log_popularity[rng.permutation(n_regular)]
        n_arriving = int(round(arriving_share * n_regular))
        existing = np.sort(origin_ms - rng.integers(HOUR_MS, 90 * 24 * HOUR_MS, size=n_regular - n_arriving))
        arriving = np.sort(origin_ms + rng.integers(0, max(arrival_span_ms, 1), size=n_arriving))
        created = np.concatenate((existing, arriving, np.full(n_cohort, origin_ms))).astype(np.int64)
        return cls(
            cluster=cluster,
            taste=taste,
            log_popularity=log_popularity,
            shocked_log_popularity=shocked,
            created_ms=created,
            hour_phase=rng.uniform(0, 24, size=n),
            hour_amplitude=np.abs(rng.normal(0.0, 0.6, size=n)),
            device_affinity=rng.normal(0.0, 0.35, size=(n, len(DEVICES))),
            n_regular=n_regular,
        )

    def __len__(self) -> int:
        return len(self.cluster)
