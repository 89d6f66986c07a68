"""The synthetic recommendation world: who likes what, when, where, and how drift changes it.

A :class:`RecsWorld` is fixed by its seed and sizes. Drift is not part of the world but
an argument of its questions ("what is this user's taste at drift 0.7?"), so a stream
at drift 0 and one at drift 1 live in the same world: same users, same items, same ids.

Click model (position-based): P(click) = P(examine | position) * P(relevant), where
logit P(relevant) = base(surface) + taste_weight(surface) * <user taste, item taste>
+ popularity_weight(surface) * popularity + time-of-day + device affinity.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from models.recs.constants import DEVICES, SURFACES
from models.recs.hashing import hash_ids
from models.recs.population import (
    DEVICE_MIX,
    N_CLUSTERS,
    ZIPF_EXPONENT,
    Items,
    Users,
    centroids,
    noise_table,
)

#: Stream start (2025-01-01T00:00:00Z): fixed so that a seed alone fixes the bytes.
DEFAULT_START_MS = 1_735_689_600_000

BASE_LOGIT = -5.0
#: Per surface (SURFACES order): search is intent-driven (taste matters more, popularity
#: less); email is a cold push (lower base rate, popularity matters more).
SURFACE_OFFSET = np.array([0.0, 0.3, 0.1, -0.6])
SURFACE_TASTE_WEIGHT = np.array([1.0, 1.4, 1.2, 0.8])
SURFACE_POPULARITY_WEIGHT = np.array([1.0, 0.5, 0.8, 1.3])
POPULARITY_WEIGHT = 0.45  # logits per standard deviation of log-popularity
POSITION_BIAS_EXPONENT = 0.8  # P(examine | position p) = p ** -exponent

# Drift at 1: how far tastes move to their shifted cluster, and how much the cohort's
# log-popularity rises (enough to put it among the head items).
TASTE_SHIFT_AT_FULL_DRIFT = 0.6
COHORT_POPULARITY_BOOST = 7.0

#: What drift moves, one knob each: users' tastes, the new-item cohort (its popularity and its share of
#: candidates), the popularity ranks of the regular catalogue. A plain ``drift`` moves all three at once.
DRIFT_KINDS = ("taste", "cohort", "popularity")


@dataclass(frozen=True)
class DriftLevels:
    """One drift level in [0, 1] per kind (see :data:`DRIFT_KINDS`).

    Every method of :class:`RecsWorld` that takes a ``drift`` takes a float (all kinds at that level,
    exactly as before kinds existed) or one of these.
    """

    taste: float = 0.0
    cohort: float = 0.0
    popularity: float = 0.0

    @classmethod
    def of(cls, drift: float | DriftLevels, kinds: Collection[str] | None = None) -> DriftLevels:
        """``drift`` as levels; with ``kinds``, the kinds not named stay at 0.

        Raises:
            ValueError: If a kind is unknown or a level is outside [0, 1].
        """
        if isinstance(drift, DriftLevels):
            levels = drift
        else:
            levels = cls(float(drift), float(drift), float(drift))
        if kinds is not None:
            unknown = sorted(set(kinds) - set(DRIFT_KINDS))
            if unknown:
                raise ValueError(f"unknown drift kinds {unknown}; known: {', '.join(DRIFT_KINDS)}")
            levels = cls(*(getattr(levels, kind) if kind in kinds else 0.0 for kind in DRIFT_KINDS))
        if not all(0.0 <= getattr(levels, kind) <= 1.0 for kind in DRIFT_KINDS):
            raise ValueError(f"drift levels must be in [0, 1], got {levels}")
        return levels


@dataclass(frozen=True)
class ItemView:
    """Per-row item properties at a given drift, for known and cold items alike."""

    taste: np.ndarray
    log_popularity: np.ndarray
    hour_phase: np.ndarray
    hour_amplitude: np.ndarray
    device_affinity: np.ndarray


@dataclass(frozen=True)
class UserView:
    """Per-row user properties at a given drift, for known and cold users alike."""

    taste: np.ndarray
    cluster: np.ndarray
    utc_offset: np.ndarray
    device: np.ndarray


def _indices(ids: Sequence[str] | np.ndarray, prefix: str, limit: int) -> np.ndarray:
    """Index of ``<prefix><index>`` ids below ``limit``; -1 for any other id (vectorised)."""
    strings = np.asarray(ids, dtype=np.str_)
    if strings.size == 0:
        return np.zeros(0, np.int64)
    rest = np.char.replace(strings, prefix, "", count=1)
    canonical = (np.char.startswith(strings, prefix) & np.char.isdecimal(rest)
                 & (np.char.str_len(rest) <= 12) & ((rest == "0") | ~np.char.startswith(rest, "0")))
    index = np.where(canonical, rest, "0").astype(np.int64)
    return np.where(canonical & (index < limit), index, -1)


def _hash_field(h: np.ndarray, shift: int, modulo: int) -> np.ndarray:
    """An int64 in [0, modulo) from bits ``shift..`` of 64-bit hashes (stable per id)."""
    return ((h >> np.uint64(shift)) % np.uint64(modulo)).astype(np.int64)


class RecsWorld:
    """Users, items and the click model behind the recs stream.

    Args:
        seed: Seed of everything in the world.
        n_users: Known users (ids ``u0 .. u<n-1>``).
        n_items: Regular catalogue size (ids ``i0 ..``); the drift cohort follows it.
        n_cohort: Items of the drift cohort, which only drift shows to users.
        origin_ms: Stream start: items before it exist, later ones arrive during the stream.
        arriving_share: Share of the regular catalogue created after ``origin_ms``.
        arrival_span_ms: Over how long those items arrive.
    """

    def __init__(self, seed: int, n_users: int = 5000, n_items: int = 8000, n_cohort: int | None = None,
                 origin_ms: int = DEFAULT_START_MS, arriving_share: float = 0.15,
                 arrival_span_ms: int = 3_600_000) -> None:
        if n_users < 1 or n_items < 1:
            raise ValueError("a world needs at least one user and one item")
        rng = np.random.default_rng([seed, 0x7EC5])
        self.seed = seed
        self.origin_ms = int(origin_ms)
        self._centres = centroids(rng)
        self._noise = noise_table(rng)
        self.users = Users.sample(rng, n_users, self._centres)
        n_cohort = max(1, n_items // 20) if n_cohort is None else n_cohort
        self.items = Items.sample(rng, n_items, n_cohort, self._centres, self.origin_ms,
                                  arriving_share, arrival_span_ms)
        regular = self.items.log_popularity[:n_items]
        # Fixed at drift 0, so a popularity shock shows as a change, not a re-normalisation.
        self._popularity_mean, self._popularity_std = float(regular.mean()), float(regular.std() + 1e-9)
        self.user_ids = np.array([f"u{i}" for i in range(n_users)], dtype=object)
        self.item_ids = np.array([f"i{i}" for i in range(len(self.items))], dtype=object)

    @property
    def n_regular_items(self) -> int:
        """Size of the ordinary catalogue (items outside the drift cohort)."""
        return self.items.n_regular

    def user_taste(self, index: np.ndarray, drift: float | DriftLevels) -> np.ndarray:
        """True tastes [n, D] of known users (by index) at a drift level (its ``taste`` kind)."""
        shift = TASTE_SHIFT_AT_FULL_DRIFT * DriftLevels.of(drift).taste
        return (1 - shift) * self.users.taste[index] + shift * self.users.shifted_taste[index]

    def log_popularity(self, drift: float | DriftLevels) -> np.ndarray:
        """Log-popularity of every item at a drift level: shocked ranks (``popularity``), a rising cohort
        (``cohort``)."""
        items, levels = self.items, DriftLevels.of(drift)
        shock = levels.popularity
        mixed = (1 - shock) * items.log_popularity + shock * items.shocked_log_popularity
        mixed[items.n_regular:] += levels.cohort * COHORT_POPULARITY_BOOST
        return mixed

    def resolve_users(self, ids: Sequence[str] | np.ndarray, drift: float | DriftLevels) -> UserView:
        """Properties of users by id; an unknown id gets stable ones derived from its hash."""
        index = _indices(ids, "u", len(self.users))
        known = index >= 0
        h = hash_ids(ids, salt=self.seed ^ 0x5EED)
        cluster, taste = self._cold_taste(h)
        utc_offset = _hash_field(h, 32, 24) - 11
        uniform = _hash_field(h, 40, 1 << 16) / 65536.0
        device = np.minimum(np.searchsorted(np.cumsum(DEVICE_MIX), uniform, side="right"), len(DEVICES) - 1)
        safe = np.where(known, index, 0)
        return UserView(
            taste=np.where(known[:, None], self.user_taste(safe, drift), taste),
            cluster=np.where(known, self.users.cluster[safe], cluster),
            utc_offset=np.where(known, self.users.utc_offset[safe], utc_offset),
            device=np.where(known, self.users.device[safe], device),
        )

    def item_index(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Catalogue index of each item id, -1 for an id outside the catalogue."""
        return _indices(ids, "i", len(self.items))

    def view_items(self, index: np.ndarray, drift: float | DriftLevels,
                   ids: Sequence[str] | np.ndarray | None = None) -> ItemView:
        """Properties of items at a drift level.

        Args:
            index: Catalogue indices; -1 marks an item outside the catalogue.
            drift: Drift level (a float, or per kind).
            ids: The ids, needed only when some index is -1 (their properties come
                from the id's hash, so they are the same every time).
        """
        index = np.asarray(index, dtype=np.int64)
        known = index >= 0
        safe = np.where(known, index, 0)
        items = self.items
        taste = items.taste[safe]
        log_popularity = self.log_popularity(drift)[safe]
        phase = items.hour_phase[safe]
        affinity = items.device_affinity[safe]
        if not known.all():
            if ids is None:
                raise ValueError("ids are needed for items outside the catalogue")
            cold = ~known
            h = hash_ids(np.asarray(ids, dtype=np.str_)[cold], salt=self.seed ^ 0x17E3)
            taste[cold] = self._cold_taste(h)[1]
            # A brand-new item starts in the long tail.
            tail = 0.3 + 0.7 * _hash_field(h, 32, 1 << 16) / 65536.0
            log_popularity[cold] = -ZIPF_EXPONENT * np.log(items.n_regular * tail)
            phase[cold] = _hash_field(h, 48, 24)
            affinity[cold] = 0.0
        amplitude = np.where(known, items.hour_amplitude[safe], 0.3)
        return ItemView(taste, log_popularity, phase, amplitude, affinity)

    def _cold_taste(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # An entity outside the world's arrays: a cluster and a deviation picked by its hash.
        cluster = _hash_field(h, 0, N_CLUSTERS)
        return cluster, self._centres[cluster] + self._noise[_hash_field(h, 16, len(self._noise))]

    def relevance_logit(self, user_taste: np.ndarray, items: ItemView, device: np.ndarray, surface: np.ndarray,
                        hour: np.ndarray) -> np.ndarray:
        """Logit of P(relevant) per row: what a user would click if they examined the item.

        Args:
            user_taste: [n, D] tastes (already at the wanted drift).
            items: Item properties per row (already at the wanted drift).
            device: Device position per row (DEVICES order).
            surface: Surface position per row (SURFACES order).
            hour: Local hour per row.
        """
        affinity = np.einsum("nd,nd->n", user_taste, items.taste)
        popularity = (items.log_popularity - self._popularity_mean) / self._popularity_std
        time_of_day = items.hour_amplitude * np.cos(2 * np.pi * (hour - items.hour_phase) / 24.0)
        device_effect = np.take_along_axis(items.device_affinity, device[:, None], axis=1)[:, 0]
        return (BASE_LOGIT + SURFACE_OFFSET[surface] + SURFACE_TASTE_WEIGHT[surface] * affinity
                + SURFACE_POPULARITY_WEIGHT[surface] * POPULARITY_WEIGHT * popularity
                + time_of_day + device_effect)


def examination_probability(position: np.ndarray) -> np.ndarray:
    """P(the user looks at the slot) for 1-based positions: decays with rank."""
    return np.asarray(position, dtype=np.float64) ** -POSITION_BIAS_EXPONENT


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, numerically safe for large |x|."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def surface_index(names: Sequence[str]) -> np.ndarray:
    """Positions of surface names in SURFACES."""
    lookup = {name: i for i, name in enumerate(SURFACES)}
    return np.fromiter((lookup[n] for n in names), np.int64, len(names))


def device_index(names: Sequence[str]) -> np.ndarray:
    """Positions of device names in DEVICES."""
    lookup = {name: i for i, name in enumerate(DEVICES)}
    return np.fromiter((lookup[n] for n in names), np.int64, len(names))
