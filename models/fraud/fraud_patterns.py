"""Fraud patterns: how each kind of attack looks in the transaction stream.

Fraud arrives in episodes (a burst of related transactions on one victim card). Each
pattern decides the episode length, pacing, and what its transactions look like.
The samplers draw per-event traits vectorised over all events of one pattern.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Callable

import numpy as np

from models.fraud import world
from models.fraud.clock import DAY_MS, HOUR_MS
from models.fraud.columns import EventColumns, SamplingContext
from models.fraud.legit import round_atm_amounts, sample_legit

C = world.CATEGORY


class FraudPattern(IntEnum):
    """Fraud mechanisms. ``SOCIAL_ENGINEERING`` appears only when drift > 0."""

    CARD_TESTING = 1  # bots probe stolen numbers with tiny online charges
    ACCOUNT_TAKEOVER = 2  # a new device abroad spends big on the victim's account
    CROSS_BORDER_SPREE = 3  # a cloned card is swiped across several countries fast
    MERCHANT_COMPROMISE = 4  # data from breached risky merchants, mostly used at night
    FIRST_PARTY = 5  # the cardholder disputes their own honest-looking purchase
    SOCIAL_ENGINEERING = 6  # the victim is talked into paying: looks like them


N_PATTERNS = len(FraudPattern)
# Per pattern (index = id - 1): share of fraud events at drift 0, minimum episode length,
# Poisson mean of extra events, and mean seconds between events of an episode.
# First-party fraud is drawn as honest traffic (it is indistinguishable by construction),
# so its episode parameters are unused.
_BASE_EVENT_SHARE = np.array([0.32, 0.22, 0.18, 0.18, 0.10, 0.0])
_MIN_LENGTH = np.array([6, 1, 3, 1, 1, 1])
_EXTRA_LENGTH = np.array([10.0, 1.5, 4.0, 0.7, 0.0, 1.0])
_MEAN_GAP_S = np.array([60.0, 600.0, 1800.0, 1800.0, 0.0, 2400.0])
# At drift 1 this share of fraud events is social engineering, unknown to a drift-0 model.
_NOVEL_SHARE_AT_FULL_DRIFT = 0.45

Traits = dict[str, np.ndarray]


def event_shares(drift: float) -> np.ndarray:
    """Share of fraud events per pattern (index = pattern id - 1) at a drift level."""
    shares = _BASE_EVENT_SHARE * (1 - _NOVEL_SHARE_AT_FULL_DRIFT * drift)
    shares[FraudPattern.SOCIAL_ENGINEERING - 1] = _NOVEL_SHARE_AT_FULL_DRIFT * drift
    return shares / shares.sum()


def _per_episode(values: np.ndarray, episode: np.ndarray) -> np.ndarray:
    # Draws made once per episode keep a session consistent (same IP, same device).
    return values[episode]


def _card_testing(rng: np.random.Generator, card: np.ndarray, episode: np.ndarray, step: np.ndarray,
                  ctx: SamplingContext) -> Traits:
    n, n_ep, drift = card.size, episode.max() + 1, ctx.drift
    category = rng.choice([C["digital_goods"], C["gaming"], C["apparel"], C["utilities"]], n, p=[.5, .3, .1, .1])
    merchant_country = rng.choice(world.N_COUNTRIES, n, p=world.HOME_WEIGHTS)
    # Under drift, testers use "normal" amounts and clean residential proxies.
    stealthy = rng.random(n) < 0.5 * drift
    return {
        "channel": np.where(rng.random(n) < 0.85, world.ONLINE, world.MOTO),
        "merchant": ctx.merchants.pick(rng, merchant_country, category),
        "location": np.where(
            _per_episode(rng.random(n_ep) < 0.6, episode),
            _per_episode(rng.choice(world.N_COUNTRIES, n_ep, p=world.FRAUD_ORIGIN_WEIGHTS), episode),
            ctx.cards.home[card],  # a proxy in the victim's own country
        ),
        "amount": rng.uniform(0.5, 5.0 + 25.0 * drift, n),
        "new_device": _per_episode(rng.random(n_ep) < 0.5, episode),
        "failed_auth": rng.poisson(0.8, n) + step // 3,  # declines pile up during a burst
        "ip_risk": np.where(stealthy | (rng.random(n) < 0.4), rng.beta(1.5, 8, n), rng.beta(4, 3, n)),
    }


def _account_takeover(rng: np.random.Generator, card: np.ndarray, episode: np.ndarray, step: np.ndarray,
                      ctx: SamplingContext) -> Traits:
    n, n_ep, drift = card.size, episode.max() + 1, ctx.drift
    home = ctx.cards.home[card]
    category = rng.choice(
        [C["electronics"], C["jewelry"], C["travel"], C["digital_goods"], C["apparel"]], n, p=[.35, .2, .15, .15, .15]
    )
    merchant_country = np.where(rng.random(n) < 0.7, home, rng.choice(world.N_COUNTRIES, n, p=world.HOME_WEIGHTS))
    foreign_ip = _per_episode(rng.random(n_ep) < 0.55 - 0.4 * drift, episode)
    origin = _per_episode(rng.choice(world.N_COUNTRIES, n_ep, p=world.FRAUD_ORIGIN_WEIGHTS), episode)
    # Under drift, takeovers spoof the victim's device and come through clean proxies.
    stealthy = rng.random(n) < 0.35 + 0.5 * drift
    return {
        "channel": np.full(n, world.ONLINE),
        "merchant": ctx.merchants.pick(rng, merchant_country, category),
        "location": np.where(foreign_ip, origin, home),
        "amount": ctx.cards.avg_amount[card] * rng.uniform(1.5, 8.0, n),
        "new_device": _per_episode(rng.random(n_ep) < 0.65 - 0.5 * drift, episode),
        "failed_auth": rng.poisson(0.8, n),
        "ip_risk": np.where(stealthy, rng.beta(1.2, 10, n), rng.beta(5, 2, n)),
    }


def _cross_border_spree(rng: np.random.Generator, card: np.ndarray, episode: np.ndarray, step: np.ndarray,
                        ctx: SamplingContext) -> Traits:
    n = card.size
    home = ctx.cards.home[card]
    category = rng.choice([C["electronics"], C["jewelry"], C["apparel"], C["cash_withdrawal"]], n, p=[.3, .2, .2, .3])
    channel = np.where(
        category == C["cash_withdrawal"], world.ATM, np.where(rng.random(n) < 0.7, world.POS, world.CONTACTLESS)
    )
    country = rng.choice(world.N_COUNTRIES, n, p=world.FRAUD_ORIGIN_WEIGHTS)
    country = np.where(country == home, (country + 1) % world.N_COUNTRIES, country)
    # Half the clones are used at home, where only the pace and the merchants give them away.
    country = np.where(_per_episode(rng.random(episode.max() + 1) < 0.5, episode), home, country)
    amount = ctx.cards.avg_amount[card] * rng.uniform(1.2, 4.0, n)
    return {
        "channel": channel,
        "merchant": ctx.merchants.pick(rng, country, category),
        "location": country,  # the clone is physically at the terminal
        "amount": round_atm_amounts(amount, channel),
        "new_device": np.zeros(n, bool),
        "failed_auth": rng.poisson(0.5, n),
        "ip_risk": np.zeros(n),
    }


def _merchant_compromise(rng: np.random.Generator, card: np.ndarray, episode: np.ndarray, step: np.ndarray,
                         ctx: SamplingContext) -> Traits:
    n = card.size
    home = ctx.cards.home[card]
    return {
        "channel": np.where(rng.random(n) < 0.7, world.ONLINE, world.MOTO),
        "merchant": np.where(
            rng.random(n) < 0.6,
            ctx.merchants.pick_risky(rng, n),
            ctx.merchants.pick(rng, home, rng.choice(world.RISKY_CATEGORIES, n)),
        ),
        "location": np.where(
            rng.random(n) < 0.75, home, rng.choice(world.N_COUNTRIES, n, p=world.FRAUD_ORIGIN_WEIGHTS)
        ),
        "amount": ctx.cards.avg_amount[card] * rng.uniform(1.0, 3.5, n),
        "new_device": rng.random(n) < 0.35,
        "failed_auth": rng.poisson(0.3, n),
        "ip_risk": rng.beta(1.5, 6, n),
    }


def _social_engineering(rng: np.random.Generator, card: np.ndarray, episode: np.ndarray, step: np.ndarray,
                        ctx: SamplingContext) -> Traits:
    n = card.size
    home = ctx.cards.home[card]
    # Gift cards (sold online and at the grocery till), electronics and cash.
    category = rng.choice(
        [C["digital_goods"], C["grocery"], C["electronics"], C["cash_withdrawal"]], n, p=[.4, .2, .15, .25]
    )
    channel = np.where(
        category == C["cash_withdrawal"], world.ATM, np.where(rng.random(n) < 0.6, world.ONLINE, world.POS)
    )
    amount = ctx.cards.avg_amount[card] * rng.uniform(1.0, 3.0, n)
    return {
        "channel": channel,
        "merchant": ctx.merchants.pick(rng, home, category),
        "location": home,  # the genuine customer, at home, on their own device
        "amount": round_atm_amounts(amount, channel),
        "new_device": np.zeros(n, bool),
        "failed_auth": rng.poisson(0.03, n),
        "ip_risk": np.where(channel == world.ONLINE, rng.beta(1.2, 14, n), 0.0),
    }


# Every episodic pattern; first-party fraud is drawn by the honest-traffic sampler.
_TRAIT_SAMPLERS: dict[FraudPattern, Callable[..., Traits]] = {
    FraudPattern.CARD_TESTING: _card_testing,
    FraudPattern.ACCOUNT_TAKEOVER: _account_takeover,
    FraudPattern.CROSS_BORDER_SPREE: _cross_border_spree,
    FraudPattern.MERCHANT_COMPROMISE: _merchant_compromise,
    FraudPattern.SOCIAL_ENGINEERING: _social_engineering,
}


def _episode_starts(rng: np.random.Generator, pattern: np.ndarray, victim: np.ndarray, duration: np.ndarray,
                    ctx: SamplingContext) -> np.ndarray:
    """Choose when each episode begins, inside the batch and according to its pattern."""
    room = np.maximum(ctx.t1_ms - 1 - ctx.t0_ms - duration, 0)
    start = ctx.t0_ms + (rng.random(pattern.size) * room).astype(np.int64)  # bots keep no office hours
    # Social engineers call victims in the daytime, like legitimate traffic.
    daytime = ctx.clock.legit_times(rng, ctx.span, pattern.size)
    start = np.where(pattern == FraudPattern.SOCIAL_ENGINEERING, daytime, start)
    # Breached card data is cashed out in the victim's small hours (00:00-05:00 local).
    local_hour = (start / HOUR_MS + world.UTC_OFFSET_HOURS[ctx.cards.home[victim]]) % 24
    night = start - (((local_hour - rng.uniform(0, 5, pattern.size)) % 24) * HOUR_MS).astype(np.int64)
    night = np.where(night < ctx.t0_ms, night + DAY_MS, night)
    start = np.where((pattern == FraudPattern.MERCHANT_COMPROMISE) & (rng.random(pattern.size) < 0.6), night, start)
    return np.clip(start, ctx.t0_ms, ctx.t0_ms + room)


def sample_fraud(rng: np.random.Generator, n: int, ctx: SamplingContext) -> EventColumns:
    """Draw ``n`` fraudulent transactions for the current batch.

    Episodes are cut at the batch end (the generator uses large blocks, so this is rare).

    Args:
        rng: Source of randomness.
        n: Number of fraud events.
        ctx: World and batch context.

    Returns:
        Unsorted event columns with label 1 and the pattern id of each event.
    """
    shares = event_shares(ctx.drift)
    first_party_share = shares[FraudPattern.FIRST_PARTY - 1]
    n_first_party = int(rng.binomial(n, first_party_share))
    first_party = sample_legit(rng, n_first_party, ctx)
    first_party.label[:] = 1
    first_party.pattern[:] = FraudPattern.FIRST_PARTY
    shares[FraudPattern.FIRST_PARTY - 1] = 0.0
    return EventColumns.concat([_sample_episodes(rng, n - n_first_party, shares / shares.sum(), ctx), first_party])


def _sample_episodes(rng: np.random.Generator, n: int, shares: np.ndarray, ctx: SamplingContext) -> EventColumns:
    """Draw ``n`` fraud events in episodes, with patterns in proportion to ``shares``."""
    episode_weight = shares / (_MIN_LENGTH + _EXTRA_LENGTH)
    # n episodes always suffice (each has at least one event) and keep draws deterministic.
    pattern = rng.choice(N_PATTERNS, size=max(n, 1), p=episode_weight / episode_weight.sum()) + 1
    length = _MIN_LENGTH[pattern - 1] + rng.poisson(_EXTRA_LENGTH[pattern - 1])
    n_episodes = int(np.searchsorted(np.cumsum(length), n)) + 1 if n else 0
    pattern, length = pattern[:n_episodes], length[:n_episodes]
    if n_episodes:
        length[-1] -= length.sum() - n
    first = np.cumsum(length) - length
    episode = np.repeat(np.arange(n_episodes), length)
    step = np.arange(n) - first[episode]

    gap_s = rng.exponential(_MEAN_GAP_S[pattern - 1][episode])
    gap_s[first] = 0.0
    elapsed_s = np.cumsum(gap_s)
    offset_ms = ((elapsed_s - elapsed_s[first][episode]) * 1000).astype(np.int64)
    duration = offset_ms[first + length - 1] if n else np.zeros(0, np.int64)
    victim = rng.integers(0, len(ctx.cards), n_episodes)
    start = _episode_starts(rng, pattern, victim, duration, ctx)
    card = victim[episode]
    time_ms = np.clip(start[episode] + offset_ms, ctx.t0_ms, ctx.t1_ms - 1)

    event_pattern = pattern[episode]
    traits: dict[str, np.ndarray] = {
        "channel": np.zeros(n, np.int64), "merchant": np.zeros(n, np.int64), "location": np.zeros(n, np.int64),
        "amount": np.zeros(n), "new_device": np.zeros(n, bool), "failed_auth": np.zeros(n, np.int64),
        "ip_risk": np.zeros(n),
    }
    for kind, sampler in _TRAIT_SAMPLERS.items():
        rows = np.flatnonzero(event_pattern == kind)
        if rows.size == 0:
            continue
        local_episode = np.unique(episode[rows], return_inverse=True)[1]
        for name, values in sampler(rng, card[rows], local_episode, step[rows], ctx).items():
            traits[name][rows] = values

    new_device = traits["new_device"]
    device_age = np.where(
        new_device, rng.uniform(0, 1, n), ctx.cards.device_age_days[card] + ctx.elapsed_days(time_ms)
    )
    return EventColumns(
        card=card,
        time_ms=time_ms,
        amount=traits["amount"],
        merchant=traits["merchant"],
        channel=traits["channel"],
        location=traits["location"],
        is_new_device=new_device,
        device_age_days=device_age,
        failed_auth=traits["failed_auth"],
        ip_risk=traits["ip_risk"],
        label=np.ones(n, np.int8),
        pattern=event_pattern.astype(np.int8),
    )
