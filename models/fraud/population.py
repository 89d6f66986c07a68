"""The synthetic world's actors: a population of cards and a catalogue of merchants."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.fraud import world


@dataclass(frozen=True)
class CardPopulation:
    """Static per-card attributes, one array entry per card.

    Attributes:
        ids: Card identifiers (str), as they appear on the wire.
        home: Home country position in ``schema.COUNTRIES``.
        customer_age: Cardholder age in years.
        account_age_days: Account age when the stream starts.
        device_age_days: Age of the cardholder's usual device when the stream starts.
        amount_mu: Log-mean of everyday spend (before category multipliers).
        amount_sigma: Log-std of everyday spend.
        avg_amount: The card's 30-day average ticket (its spending profile).
        std_amount: The card's 30-day ticket standard deviation.
        rate_per_day: Expected legitimate transactions per day.
    """

    ids: list[str]
    home: np.ndarray
    customer_age: np.ndarray
    account_age_days: np.ndarray
    device_age_days: np.ndarray
    amount_mu: np.ndarray
    amount_sigma: np.ndarray
    avg_amount: np.ndarray
    std_amount: np.ndarray
    rate_per_day: np.ndarray

    @classmethod
    def sample(cls, rng: np.random.Generator, n_cards: int, seed: int) -> CardPopulation:
        """Draw a population.

        Args:
            rng: Source of randomness (consumed deterministically).
            n_cards: Number of cards.
            seed: Generator seed, embedded in card ids so two seeds never collide.

        Returns:
            The population.
        """
        home = rng.choice(world.N_COUNTRIES, size=n_cards, p=world.HOME_WEIGHTS)
        customer_age = np.clip(rng.normal(43, 14, n_cards), 18, 90).astype(np.int64)
        # A fifth of accounts are young: that is where bust-out and mule fraud live.
        young = rng.random(n_cards) < 0.2
        account_age = np.where(young, rng.uniform(3, 180, n_cards), rng.exponential(1800, n_cards) + 180)
        device_age = np.minimum(rng.uniform(20, 1500, n_cards), account_age)
        amount_mu = np.log(40) + rng.normal(0, 0.5, n_cards)
        amount_sigma = rng.uniform(0.5, 0.9, n_cards)
        lognormal_mean = np.exp(amount_mu + amount_sigma**2 / 2)
        avg_amount = lognormal_mean * world.mean_amount_multiplier() * rng.uniform(0.9, 1.1, n_cards)
        # Category multipliers widen the spread well beyond the lognormal's own.
        std_amount = avg_amount * np.sqrt(np.expm1(amount_sigma**2)) * 1.8
        rate_per_day = rng.lognormal(np.log(2.0), 0.7, n_cards)
        return cls(
            ids=[f"c{seed:x}-{i:06d}" for i in range(n_cards)],
            home=home,
            customer_age=customer_age,
            account_age_days=account_age,
            device_age_days=device_age,
            amount_mu=amount_mu,
            amount_sigma=amount_sigma,
            avg_amount=avg_amount,
            std_amount=std_amount,
            rate_per_day=rate_per_day,
        )

    def __len__(self) -> int:
        """Number of cards."""
        return len(self.ids)


@dataclass(frozen=True)
class MerchantCatalog:
    """Merchants grouped by (country, category) so samplers can pick one in O(1).

    Attributes:
        ids: Merchant identifiers (str).
        country: Merchant country position.
        category: Merchant category position.
        fraud_rate_90d: Observed 90-day fraud rate of the merchant.
        group_start: First merchant index of each (country, category) group.
        group_size: Size of each group (never zero).
        risky: Indices of compromised / high-risk merchants in risky categories.
    """

    ids: list[str]
    country: np.ndarray
    category: np.ndarray
    fraud_rate_90d: np.ndarray
    group_start: np.ndarray
    group_size: np.ndarray
    risky: np.ndarray

    @classmethod
    def sample(cls, rng: np.random.Generator, merchants_per_group: float = 60.0) -> MerchantCatalog:
        """Draw a catalogue with at least two merchants in every (country, category).

        Args:
            rng: Source of randomness.
            merchants_per_group: Scale of group sizes for an average-sized country.

        Returns:
            The catalogue.
        """
        country_scale = world.HOME_WEIGHTS * world.N_COUNTRIES
        sizes = np.maximum(2, np.round(np.outer(country_scale, np.full(world.N_CATEGORIES, merchants_per_group / 4))))
        group_size = sizes.astype(np.int64).ravel()  # group g = country * N_CATEGORIES + category
        group_start = np.concatenate(([0], np.cumsum(group_size)[:-1]))
        groups = np.repeat(np.arange(group_size.size), group_size)
        country, category = np.divmod(groups, world.N_CATEGORIES)
        in_risky_category = np.isin(category, world.RISKY_CATEGORIES)
        compromised = rng.random(groups.size) < np.where(in_risky_category, 0.08, 0.02)
        fraud_rate = np.where(compromised, rng.beta(3, 60, groups.size), rng.beta(1.2, 600, groups.size))
        return cls(
            ids=[f"m{i:05d}" for i in range(groups.size)],
            country=country,
            category=category,
            fraud_rate_90d=fraud_rate,
            group_start=group_start,
            group_size=group_size,
            risky=np.flatnonzero(compromised & in_risky_category),
        )

    def pick(self, rng: np.random.Generator, country: np.ndarray, category: np.ndarray) -> np.ndarray:
        """Pick one merchant uniformly within each requested (country, category).

        Args:
            rng: Source of randomness.
            country: Country positions.
            category: Category positions, same shape.

        Returns:
            Merchant indices.
        """
        group = country * world.N_CATEGORIES + category
        offset = (rng.random(group.size) * self.group_size[group]).astype(np.int64)
        return self.group_start[group] + offset

    def pick_risky(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Pick ``n`` merchants among the compromised ones in risky categories."""
        return self.risky[rng.integers(0, self.risky.size, n)]
