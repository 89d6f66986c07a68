"""Column-oriented event batches used inside the generator before they become dicts."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from models.fraud.clock import StreamClock
from models.fraud.population import CardPopulation, MerchantCatalog


@dataclass
class EventColumns:
    """One array per attribute, all of the same length; positions refer to world tables.

    Attributes:
        card: Card index into the population.
        time_ms: Event time, ms since the Unix epoch.
        amount: Transaction amount (unrounded).
        merchant: Merchant index into the catalogue (gives country and category).
        channel: Channel position in ``schema.CHANNELS``.
        location: Country position where the cardholder (or their IP) is.
        is_new_device: Whether the device was first seen recently.
        device_age_days: Age of the device used.
        failed_auth: Failed authentications on the card in the last 24 h.
        ip_risk: IP reputation score in [0, 1] (0 when card present).
        label: 1 for fraud, 0 otherwise.
        pattern: 0 for legitimate traffic, else the fraud pattern id.
    """

    card: np.ndarray
    time_ms: np.ndarray
    amount: np.ndarray
    merchant: np.ndarray
    channel: np.ndarray
    location: np.ndarray
    is_new_device: np.ndarray
    device_age_days: np.ndarray
    failed_auth: np.ndarray
    ip_risk: np.ndarray
    label: np.ndarray
    pattern: np.ndarray

    def __len__(self) -> int:
        """Number of events."""
        return len(self.card)

    def take(self, index: np.ndarray) -> EventColumns:
        """Return the rows at ``index`` (a permutation or a subset), as a new batch."""
        return EventColumns(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(parts: list[EventColumns]) -> EventColumns:
        """Stack batches end to end."""
        return EventColumns(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(EventColumns)}
        )


@dataclass(frozen=True)
class SamplingContext:
    """What a sampler needs to know about the world and the current batch.

    Attributes:
        cards: The card population.
        merchants: The merchant catalogue.
        clock: The stream clock (for daytime-shaped times).
        drift: Drift level in [0, 1].
        span: Activity-time span of this batch.
        t0_ms: First millisecond of this batch.
        t1_ms: First millisecond after this batch.
        origin_ms: Stream start, from which account and device ages grow.
    """

    cards: CardPopulation
    merchants: MerchantCatalog
    clock: StreamClock
    drift: float
    span: tuple[float, float]
    t0_ms: int
    t1_ms: int
    origin_ms: int

    def elapsed_days(self, time_ms: np.ndarray) -> np.ndarray:
        """Days since the stream started, per event."""
        return (time_ms - self.origin_ms) / 86_400_000.0
