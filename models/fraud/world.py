"""Static tables behind the synthetic world: geography, categories and channel mix.

Everything here is indexed by position in the vocabularies of ``schema`` so the
generator can work on small integer codes and only turn them into strings at the end.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from models.fraud.schema import CHANNELS, COUNTRIES, MERCHANT_CATEGORIES

N_COUNTRIES: Final[int] = len(COUNTRIES)
N_CATEGORIES: Final[int] = len(MERCHANT_CATEGORIES)
N_CHANNELS: Final[int] = len(CHANNELS)

# Channel and category positions used by the samplers (positions, not wire codes).
POS, ONLINE, CONTACTLESS, ATM, MOTO = (
    CHANNELS.index(c) for c in ("pos", "online", "contactless", "atm", "moto")
)
CATEGORY = {name: i for i, name in enumerate(MERCHANT_CATEGORIES)}

#: Share of cardholders living in each country (normalised below).
HOME_WEIGHTS: Final[np.ndarray] = np.array([
    .30, .11, .09, .07, .05, .05, .03, .03, .02, .05,
    .03, .04, .03, .03, .01, .03, .02, .01, .005, .005,
])
HOME_WEIGHTS /= HOME_WEIGHTS.sum()

#: Where fraudsters' proxies and cash-out terminals tend to sit (normalised below).
FRAUD_ORIGIN_WEIGHTS: Final[np.ndarray] = np.array([
    .04, .04, .03, .02, .03, .03, .02, .08, .01, .02,
    .08, .12, .01, .02, .03, .10, .12, .06, .12, .02,
])
FRAUD_ORIGIN_WEIGHTS /= FRAUD_ORIGIN_WEIGHTS.sum()

#: Country centroids (lat, lon) in degrees, for distance-from-home.
CENTROIDS: Final[np.ndarray] = np.array([
    (39.8, -98.6), (54.0, -2.0), (51.0, 10.0), (46.5, 2.5), (40.0, -3.7),
    (42.8, 12.5), (52.2, 5.3), (52.0, 19.4), (62.0, 15.0), (56.0, -106.0),
    (23.6, -102.5), (-10.8, -52.9), (-25.7, 134.5), (36.2, 138.3), (1.35, 103.8),
    (22.0, 79.0), (35.0, 103.0), (24.0, 54.0), (9.1, 8.7), (-29.0, 24.7),
])

#: Standard-time UTC offsets in hours (daylight saving is ignored on purpose).
UTC_OFFSET_HOURS: Final[np.ndarray] = np.array([
    -6, 0, 1, 1, 1, 1, 1, 1, 1, -5, -6, -3, 10, 9, 8, 5.5, 8, 4, 1, 2,
])

#: Billing currency of a card issued in each country.
CURRENCIES: Final[tuple[str, ...]] = (
    "USD", "GBP", "EUR", "EUR", "EUR", "EUR", "EUR", "PLN", "SEK", "CAD",
    "MXN", "BRL", "AUD", "JPY", "SGD", "INR", "CNY", "AED", "NGN", "ZAR",
)

#: Typical ticket size of a category relative to the card's everyday spend.
AMOUNT_MULTIPLIER: Final[np.ndarray] = np.array([
    1.0, 0.8, 1.0, 5.0, 3.5, 5.0, 0.5, 0.35, 0.6, 1.6, 2.0, 2.5,
])

#: Share of honest transactions per category that are micro-payments (coffee, app stores, parking).
MICRO_PAYMENT_SHARE: Final[np.ndarray] = np.array([
    .04, .10, .02, .00, .01, .00, .30, .35, .03, .01, .02, .00,
])

#: P(category | channel); rows follow CHANNELS, columns MERCHANT_CATEGORIES.
CATEGORY_GIVEN_CHANNEL: Final[np.ndarray] = np.array([
    # groc  rest  fuel  trav  elec  jewl  game  digi  phar  appa  util  cash
    [.26, .14, .14, .02, .06, .02, .01, .00, .09, .14, .02, .00],  # pos
    [.08, .06, .00, .12, .12, .02, .08, .20, .04, .16, .12, .00],  # online
    [.30, .25, .12, .03, .02, .01, .01, .00, .10, .12, .02, .00],  # contactless
    [.00, .00, .00, .00, .00, .00, .00, .00, .00, .00, .00, 1.0],  # atm
    [.00, .10, .00, .35, .10, .05, .00, .00, .00, .10, .30, .00],  # moto
])
CATEGORY_GIVEN_CHANNEL /= CATEGORY_GIVEN_CHANNEL.sum(axis=1, keepdims=True)

#: Categories that carry most card-not-present fraud and most compromised merchants.
RISKY_CATEGORIES: Final[tuple[int, ...]] = tuple(
    CATEGORY[c] for c in ("electronics", "jewelry", "gaming", "digital_goods")
)


def channel_mix(drift: float) -> np.ndarray:
    """Return P(channel) for legitimate traffic at a given drift.

    Drift moves share from chip-and-PIN to online and contactless, as card markets do.

    Args:
        drift: Drift level in [0, 1].

    Returns:
        Probabilities over CHANNELS, summing to 1.
    """
    base = np.array([.36, .25, .30, .05, .04])
    shift = np.array([-.24, .17, .08, -.02, .01])
    return base + drift * shift


def mean_amount_multiplier() -> float:
    """Expected category multiplier under the drift-0 channel mix (card profile scale)."""
    return float(channel_mix(0.0) @ CATEGORY_GIVEN_CHANNEL @ AMOUNT_MULTIPLIER)


def haversine_km(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Great-circle distance between country centroids.

    Args:
        a: Country positions (int array).
        b: Country positions (int array), same shape as ``a``.

    Returns:
        Distances in km, float64.
    """
    lat1, lon1 = np.radians(CENTROIDS[a]).T
    lat2, lon2 = np.radians(CENTROIDS[b]).T
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))
