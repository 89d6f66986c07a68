"""Legitimate card traffic: habitual, mostly domestic, daytime, and sized to each card."""

from __future__ import annotations

import numpy as np

from models.fraud import world
from models.fraud.columns import EventColumns, SamplingContext


def sample_categories(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    """Draw a merchant category for each event from P(category | channel)."""
    cumulative = np.cumsum(world.CATEGORY_GIVEN_CHANNEL, axis=1)[channel]
    drawn = (rng.random(channel.size)[:, None] > cumulative).sum(axis=1)
    return np.minimum(drawn, world.N_CATEGORIES - 1)  # guards float round-off at 1.0


def round_atm_amounts(amount: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """ATMs dispense multiples of 20, with a floor of 20."""
    atm = channel == world.ATM
    return np.where(atm, np.maximum(20.0, np.round(amount / 20.0) * 20.0), amount)


def _shopping_sessions(rng: np.random.Generator, card: np.ndarray, time_ms: np.ndarray, abroad: np.ndarray,
                       destination: np.ndarray, end_ms: int) -> tuple[np.ndarray, ...]:
    """Turn a share of independent events into follow-ups of another one (same card, minutes later).

    Honest cardholders are bursty too (a shopping trip, a holiday); without this, any
    burst would give fraud away. A follow-up copies its leader's card and trip.
    """
    n = card.size
    follower = np.flatnonzero(rng.random(n) < 0.25)
    leader = rng.integers(0, max(n, 1), follower.size)
    gap_ms = rng.exponential(15 * 60_000, follower.size).astype(np.int64)
    card, time_ms, abroad, destination = card.copy(), time_ms.copy(), abroad.copy(), destination.copy()
    card[follower] = card[leader]
    time_ms[follower] = np.minimum(time_ms[leader] + gap_ms, end_ms - 1)
    abroad[follower] = abroad[leader]
    destination[follower] = destination[leader]
    return card, time_ms, abroad, destination


def sample_legit(rng: np.random.Generator, n: int, ctx: SamplingContext) -> EventColumns:
    """Draw ``n`` legitimate transactions for the current batch.

    Drift inflates amounts (faster than the 30-day profiles catch up), moves the
    channel mix online, and makes cardholders' IPs look a little riskier (VPN use).

    Args:
        rng: Source of randomness.
        n: Number of events.
        ctx: World and batch context.

    Returns:
        Unsorted event columns with label 0 and pattern 0.
    """
    cards, drift = ctx.cards, ctx.drift
    card = rng.choice(len(cards), size=n, p=cards.rate_per_day / cards.rate_per_day.sum())
    time_ms = ctx.clock.legit_times(rng, ctx.span, n)
    channel = rng.choice(world.N_CHANNELS, size=n, p=world.channel_mix(drift))
    category = sample_categories(rng, channel)
    remote = (channel == world.ONLINE) | (channel == world.MOTO)
    # Cross-border e-commerce is common; card-present abroad means the cardholder travels.
    abroad = rng.random(n) < np.where(remote, 0.12, 0.05)
    destination = rng.choice(world.N_COUNTRIES, size=n, p=world.HOME_WEIGHTS)
    card, time_ms, abroad, destination = _shopping_sessions(rng, card, time_ms, abroad, destination, ctx.t1_ms)
    home = cards.home[card]
    merchant_country = np.where(abroad, destination, home)
    merchant = ctx.merchants.pick(rng, merchant_country, category)
    # Remote shoppers sit at home, except a few behind a VPN exit abroad.
    vpn = remote & (rng.random(n) < 0.03)
    vpn_exit = rng.choice(world.N_COUNTRIES, size=n, p=world.FRAUD_ORIGIN_WEIGHTS)
    location = np.where(remote, np.where(vpn, vpn_exit, home), merchant_country)
    everyday = np.exp(cards.amount_mu[card] + cards.amount_sigma[card] * rng.standard_normal(n))
    amount = everyday * world.AMOUNT_MULTIPLIER[category] * (1 + 0.4 * drift)
    micro = rng.random(n) < world.MICRO_PAYMENT_SHARE[category]
    amount = round_atm_amounts(np.where(micro, rng.uniform(0.5, 8.0, n), amount), channel)
    new_device = remote & (rng.random(n) < 0.06)
    device_age = np.where(
        new_device, rng.uniform(0, 2, n), cards.device_age_days[card] + ctx.elapsed_days(time_ms)
    )
    # Public wi-fi and carrier NAT make some honest IPs look risky.
    public_network = rng.random(n) < 0.06
    ip_risk = np.where(remote, np.where(public_network, rng.beta(2, 4, n), rng.beta(1.2, 14 - 6 * drift, n)), 0.0)
    return EventColumns(
        card=card,
        time_ms=time_ms,
        amount=amount,
        merchant=merchant,
        channel=channel,
        location=location,
        is_new_device=new_device,
        device_age_days=device_age,
        failed_auth=rng.poisson(0.08, n),  # typos, expired card on file
        ip_risk=ip_risk,
        label=np.zeros(n, np.int8),
        pattern=np.zeros(n, np.int8),
    )
