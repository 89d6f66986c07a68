"""Seeded, vectorised generator of synthetic card transactions with labelled fraud."""

from __future__ import annotations

import gc
from itertools import repeat
from typing import Any, Final

import numpy as np

from models.fraud import world
from models.fraud.clock import StreamClock
from models.fraud.columns import EventColumns, SamplingContext
from models.fraud.fraud_patterns import sample_fraud
from models.fraud.legit import sample_legit
from models.fraud.population import CardPopulation, MerchantCatalog
from models.fraud.schema import (
    CARD_PRESENT_CHANNELS,
    CHANNELS,
    COUNTRIES,
    MERCHANT_CATEGORIES,
    SCHEMA_VERSION,
    TRANSACTION_FIELDS,
)
from models.fraud.velocity import Velocity, VelocityTracker

#: Default stream start (2025-01-01T00:00:00Z): fixed so that a seed alone fixes the bytes.
DEFAULT_START_TIME_MS: Final[int] = 1_735_689_600_000
#: Events are generated in blocks of this size and served from a buffer, so the stream
#: does not depend on how callers slice it and fraud episodes are not cut by small calls.
BLOCK_SIZE: Final[int] = 8192
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


class FraudGenerator:
    """An endless, deterministic stream of card transactions and their fraud labels.

    A population of cards shops at a catalogue of merchants with a daily rhythm; about
    ``fraud_rate`` of events are fraud, drawn from several attack patterns. Per-card
    velocity features are computed over the generated stream itself and continue
    across calls to :meth:`batch`. The same seed gives byte-identical events however
    the stream is sliced into batches (for the same drift settings at the same points).

    Args:
        seed: Seed of everything random.
        n_cards: Number of cards in the population.
        fraud_rate: Expected share of fraudulent events.
        drift: Drift level in [0, 1]: 0 is the training world; 1 inflates amounts,
            moves traffic online, makes known attacks stealthier and adds a new
            (social engineering) fraud pattern that a drift-0 model has never seen.
        start_time_ms: Stream start; defaults to ``DEFAULT_START_TIME_MS`` (not "now",
            which would break determinism).
    """

    def __init__(self, seed: int, n_cards: int = 5000, fraud_rate: float = 0.015, drift: float = 0.0,
                 start_time_ms: int | None = None) -> None:
        if not 0.0 <= fraud_rate < 1.0:
            raise ValueError(f"fraud_rate must be in [0, 1), got {fraud_rate}")
        self.seed = seed
        self.fraud_rate = fraud_rate
        self.drift = 0.0
        self.set_drift(drift)
        self._rng = np.random.default_rng(seed)
        self._origin_ms = DEFAULT_START_TIME_MS if start_time_ms is None else int(start_time_ms)
        self._cards = CardPopulation.sample(self._rng, n_cards, seed)
        self._merchants = MerchantCatalog.sample(self._rng)
        self._clock = StreamClock(self._origin_ms, float(self._cards.rate_per_day.sum()))
        # Every card was last used some time before the stream began.
        gap_ms = self._rng.exponential(86_400_000 / self._cards.rate_per_day)
        self._velocity = VelocityTracker(self._origin_ms - 1 - gap_ms.astype(np.int64), self._origin_ms)
        self._counter = 0
        self._buffer_events: list[dict[str, Any]] = []
        self._buffer_labels = np.zeros(0, np.int8)
        self._buffer_patterns = np.zeros(0, np.int8)
        self._read = 0  # position of the next event to serve from the buffer
        #: Fraud pattern id of each event of the last batch (0 = legitimate), for analysis.
        self.last_patterns: np.ndarray = np.zeros(0, np.int8)

    def set_drift(self, drift: float) -> None:
        """Change the drift level of events generated from now on.

        Events already generated into the buffer keep their drift, so the change shows
        in the output after at most ``BLOCK_SIZE - 1`` events.

        Args:
            drift: Drift level in [0, 1].
        """
        if not 0.0 <= drift <= 1.0:
            raise ValueError(f"drift must be in [0, 1], got {drift}")
        self.drift = float(drift)

    def batch(self, n: int) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Return the next ``n`` events of the stream, in event-time order.

        Args:
            n: Number of events.

        Returns:
            The events (plain-Python dicts matching ``schema.TRANSACTION_FIELDS``) and
            their fraud labels (int8, 1 = fraud).
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        while len(self._buffer_events) - self._read < n:
            self._generate_block()
        start, self._read = self._read, self._read + n
        self.last_patterns = self._buffer_patterns[start:self._read]
        return self._buffer_events[start:self._read], self._buffer_labels[start:self._read]

    def _generate_block(self) -> None:
        # Drop what has been served, so the buffer never grows beyond a block or two.
        self._buffer_events = self._buffer_events[self._read:]
        self._buffer_labels = self._buffer_labels[self._read:]
        self._buffer_patterns = self._buffer_patterns[self._read:]
        self._read = 0
        n = BLOCK_SIZE
        span = self._clock.advance(n)
        t0_ms, t1_ms = (int(t) for t in self._clock.to_ms(np.array(span)))
        ctx = SamplingContext(
            cards=self._cards, merchants=self._merchants, clock=self._clock, drift=self.drift,
            span=span, t0_ms=t0_ms, t1_ms=max(t1_ms, t0_ms + 1), origin_ms=self._origin_ms,
        )
        n_fraud = int(self._rng.binomial(n, self.fraud_rate))
        legit = sample_legit(self._rng, n - n_fraud, ctx)
        columns = EventColumns.concat([legit, sample_fraud(self._rng, n_fraud, ctx)])
        columns = columns.take(np.argsort(columns.time_ms, kind="stable"))
        columns.amount = np.round(columns.amount, 2)  # velocity sums must add up the wire amounts
        merchant_country = self._merchants.country[columns.merchant]
        velocity = self._velocity.update(
            columns.card, columns.time_ms, columns.amount, columns.merchant, merchant_country
        )
        self._buffer_events += self._to_dicts(columns, velocity)
        self._buffer_labels = np.concatenate((self._buffer_labels, columns.label.astype(np.int8)))
        self._buffer_patterns = np.concatenate((self._buffer_patterns, columns.pattern))

    def _to_dicts(self, c: EventColumns, velocity: Velocity) -> list[dict[str, Any]]:
        n = len(c)
        cards, merchants = self._cards, self._merchants
        merchant_country = merchants.country[c.merchant]
        home = cards.home[c.card]
        elapsed_days = (c.time_ms - self._origin_ms) / 86_400_000.0
        local_ms = c.time_ms + (world.UTC_OFFSET_HOURS[c.location] * 3_600_000).astype(np.int64)
        local_day, local_in_day = np.divmod(local_ms, 86_400_000)
        # Profiles are rolling averages: a little jitter per event, and they lag drift.
        profile_scale = (1 + 0.2 * self.drift) * self._rng.uniform(0.97, 1.03, n)
        channel_names = np.array(CHANNELS, dtype=object)[c.channel]
        first_id = self._counter
        self._counter += n
        columns = (
            repeat(SCHEMA_VERSION, n),
            list(map(f"{self.seed:x}-%012d".__mod__, range(first_id, first_id + n))),
            c.time_ms.tolist(),
            [cards.ids[i] for i in c.card.tolist()],
            [merchants.ids[i] for i in c.merchant.tolist()],
            c.amount.tolist(),
            np.array(world.CURRENCIES, dtype=object)[home].tolist(),
            np.array(MERCHANT_CATEGORIES, dtype=object)[merchants.category[c.merchant]].tolist(),
            np.array(COUNTRIES, dtype=object)[merchant_country].tolist(),
            np.array(COUNTRIES, dtype=object)[home].tolist(),
            channel_names.tolist(),
            (local_in_day // 3_600_000).tolist(),
            ((local_day + _EPOCH_WEEKDAY) % 7 >= 5).tolist(),
            np.isin(channel_names, list(CARD_PRESENT_CHANNELS)).tolist(),
            c.is_new_device.tolist(),
            np.round(c.device_age_days, 2).tolist(),
            np.round(cards.account_age_days[c.card] + elapsed_days, 2).tolist(),
            cards.customer_age[c.card].tolist(),
            velocity.count_1h.tolist(),
            velocity.count_24h.tolist(),
            np.round(velocity.amount_sum_24h, 2).tolist(),
            velocity.distinct_merchants_24h.tolist(),
            velocity.distinct_countries_24h.tolist(),
            np.round(velocity.seconds_since_last, 3).tolist(),
            np.round(cards.avg_amount[c.card] * profile_scale, 2).tolist(),
            np.round(cards.std_amount[c.card] * profile_scale, 2).tolist(),
            c.failed_auth.tolist(),
            np.round(c.ip_risk, 4).tolist(),
            np.round(world.haversine_km(home, c.location) + self._local_distance_km(c), 1).tolist(),
            np.round(merchants.fraud_rate_90d[c.merchant], 5).tolist(),
        )
        return _build_dicts(columns)

    def _local_distance_km(self, c: EventColumns) -> np.ndarray:
        # Distance to the usual neighbourhood within a country: a few km, long-tailed.
        return self._rng.lognormal(np.log(6.0), 1.0, len(c))


def _build_dicts(columns: tuple[Any, ...]) -> list[dict[str, Any]]:
    # Building ~10^5 dicts triggers many cyclic-GC passes that find nothing (the dicts
    # hold only strings and numbers); pausing the collector saves about a quarter.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return list(map(dict, map(zip, repeat(TRANSACTION_FIELDS), zip(*columns))))
    finally:
        if was_enabled:
            gc.enable()


def make_label(event: dict[str, Any], label: int, label_time_ms: int) -> dict[str, Any]:
    """Build the ``fraud.labels`` record for an event once its outcome is known.

    Args:
        event: The ``fraud.transactions`` event.
        label: 1 for fraud, 0 for legitimate.
        label_time_ms: When the label became known (ms since epoch).

    Returns:
        The label record, fields in contract order.
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": event["event_id"],
        "card_id": event["card_id"],
        "label": int(label),
        "label_time": int(label_time_ms),
        "event_time": event["event_time"],
    }
