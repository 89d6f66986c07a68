"""Per-card velocity features over sliding windows, carried across generator batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.fraud.clock import DAY_MS, HOUR_MS

_KEY_TIME_BITS = 42  # 2**42 ms is ~139 years of stream time per card


@dataclass(frozen=True)
class Velocity:
    """Velocity features for one batch, aligned with its rows.

    Windows are (t - W, t] and include the transaction itself, as an authorisation
    system sees them once the transaction is appended to the card's history.
    """

    count_1h: np.ndarray
    count_24h: np.ndarray
    amount_sum_24h: np.ndarray
    distinct_merchants_24h: np.ndarray
    distinct_countries_24h: np.ndarray
    seconds_since_last: np.ndarray


class VelocityTracker:
    """Keeps the last 24 h of every card's history and computes windowed aggregates.

    Each batch is merged with the retained history, sorted by (card, time), and every
    window is found with one ``searchsorted`` over a composite (card, time) key, so the
    cost is a few sorts per batch regardless of how many cards are active.

    Args:
        last_seen_ms: Per-card time of the last transaction before the stream began.
        origin_ms: Stream start; keys are measured from a day before it.
    """

    def __init__(self, last_seen_ms: np.ndarray, origin_ms: int) -> None:
        self._last_seen_ms = last_seen_ms.astype(np.int64).copy()
        self._key_origin = origin_ms - DAY_MS  # keeps (time - 24 h) positive inside a card's key range
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
        self._history = {"card": empty_i, "time": empty_i, "amount": empty_f, "merchant": empty_i, "country": empty_i}

    def update(self, card: np.ndarray, time_ms: np.ndarray, amount: np.ndarray, merchant: np.ndarray,
               country: np.ndarray) -> Velocity:
        """Append a batch (in stream order, not earlier than previous batches) and featurise it.

        Args:
            card: Card index per event.
            time_ms: Event time per event.
            amount: Amount per event.
            merchant: Merchant index per event.
            country: Merchant country per event.

        Returns:
            Velocity features aligned with the batch rows.
        """
        n_history = self._history["card"].size
        merged = {
            "card": np.concatenate((self._history["card"], card)),
            "time": np.concatenate((self._history["time"], time_ms)),
            "amount": np.concatenate((self._history["amount"], amount)),
            "merchant": np.concatenate((self._history["merchant"], merchant)),
            "country": np.concatenate((self._history["country"], country)),
        }
        size = merged["card"].size
        order = np.lexsort((np.arange(size), merged["time"], merged["card"]))
        cards, times = merged["card"][order], merged["time"][order]
        keys = (cards << _KEY_TIME_BITS) | (times - self._key_origin)
        position = np.flatnonzero(order >= n_history)  # sorted positions of this batch's rows
        start_1h = np.searchsorted(keys, keys[position] - HOUR_MS, side="right")
        start_24h = np.searchsorted(keys, keys[position] - DAY_MS, side="right")
        cumulative = np.concatenate(([0.0], np.cumsum(merged["amount"][order])))
        amount_sum = np.maximum(cumulative[position + 1] - cumulative[start_24h], 0.0)

        previous = position - 1
        same_card = (previous >= 0) & (cards[np.maximum(previous, 0)] == cards[position])
        last_ms = np.where(same_card, times[np.maximum(previous, 0)], self._last_seen_ms[cards[position]])

        # Scatter sorted results back to the batch's own row order.
        rows = order[position] - n_history
        velocity = Velocity(
            count_1h=_scatter(position - start_1h + 1, rows),
            count_24h=_scatter(position - start_24h + 1, rows),
            amount_sum_24h=_scatter(amount_sum, rows),
            distinct_merchants_24h=_scatter(_distinct(cards, merged["merchant"][order], position, start_24h), rows),
            distinct_countries_24h=_scatter(_distinct(cards, merged["country"][order], position, start_24h), rows),
            seconds_since_last=_scatter(np.maximum(times[position] - last_ms, 0) / 1000.0, rows),
        )
        np.maximum.at(self._last_seen_ms, card, time_ms)
        keep = merged["time"] > merged["time"].max() - DAY_MS if size else np.zeros(0, bool)
        self._history = {name: values[keep] for name, values in merged.items()}
        return velocity


def _scatter(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    out[rows] = values
    return out


def _distinct(cards: np.ndarray, values: np.ndarray, position: np.ndarray, window_start: np.ndarray) -> np.ndarray:
    """Count distinct values in each window [window_start, position] of a (card, time)-sorted array.

    A value is counted once, at its first occurrence inside the window: the rows whose
    previous occurrence (same card, same value) lies before the window start. Windows
    are short (a card's last 24 h), so looping over the offset inside the window and
    shrinking the active set each step stays vectorised and cheap.
    """
    size = cards.size
    by_value = np.lexsort((np.arange(size), values, cards))
    repeat = (cards[by_value][1:] == cards[by_value][:-1]) & (values[by_value][1:] == values[by_value][:-1])
    previous_occurrence = np.full(size, -1, np.int64)
    previous_occurrence[by_value[1:][repeat]] = by_value[:-1][repeat]

    counts = np.zeros(position.size, np.int64)
    active = np.arange(position.size)
    offset = 0
    while active.size:
        row = position[active] - offset
        inside = row >= window_start[active]
        active, row = active[inside], row[inside]
        counts[active] += previous_occurrence[row] < window_start[active]
        offset += 1
    return counts
