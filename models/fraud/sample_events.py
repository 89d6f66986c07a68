"""Synthetic, schema-valid ``fraud.transactions`` events for tests and benchmarks.

Deterministic for a given seed. Not a fraud simulator: values are plausible and varied enough
to exercise every field and enum, nothing more.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

MERCHANT_CATEGORIES = (
    "grocery", "restaurant", "fuel", "travel", "electronics", "jewelry",
    "gaming", "digital_goods", "pharmacy", "apparel", "utilities", "cash_withdrawal",
)  # fmt: skip
CHANNELS = ("pos", "online", "contactless", "atm", "moto")
COUNTRIES = ("DE", "FR", "US", "GB", "NL", "ES", "IT", "NG", "BR", "IN")
CURRENCIES = ("EUR", "USD", "GBP", "BRL", "INR")
_BASE_TIME_MS = 1_763_774_400_000  # 2025-11-22T00:00:00Z


def make_transaction(rng: random.Random, sequence: int) -> dict[str, Any]:
    """One valid transaction event.

    Args:
        rng: Source of randomness.
        sequence: Makes ``event_id`` unique and ``event_time`` increase.

    Returns:
        An event that validates against ``topics/schemas/fraud.transactions.v1.json``.
    """
    country = rng.choice(COUNTRIES)
    count_24h = rng.randint(0, 40)
    return {
        "schema_version": 1,
        "event_id": f"txn-{sequence:012d}",
        "event_time": _BASE_TIME_MS + sequence * 37,
        "card_id": f"card_{rng.getrandbits(40):010x}",
        "merchant_id": f"m_{rng.randint(1, 99_999)}",
        "amount": round(rng.lognormvariate(3.5, 1.2), 2),
        "currency": rng.choice(CURRENCIES),
        "merchant_category": rng.choice(MERCHANT_CATEGORIES),
        "country": country,
        "card_country": country if rng.random() < 0.9 else rng.choice(COUNTRIES),
        "channel": rng.choice(CHANNELS),
        "local_hour": rng.randint(0, 23),
        "is_weekend": rng.random() < 2 / 7,
        "card_present": rng.random() < 0.6,
        "is_new_device": rng.random() < 0.05,
        "device_age_days": round(rng.uniform(0, 1500), 1),
        "account_age_days": round(rng.uniform(1, 7000), 1),
        "customer_age": rng.randint(18, 95),
        "txn_count_1h": rng.randint(0, min(count_24h, 8)),
        "txn_count_24h": count_24h,
        "amount_sum_24h": round(rng.uniform(0, 3000), 2),
        "distinct_merchants_24h": rng.randint(0, count_24h),
        "distinct_countries_24h": rng.randint(0, 3),
        "seconds_since_last_txn": round(rng.expovariate(1 / 7200), 1),
        "avg_amount_30d": round(rng.uniform(5, 400), 2),
        "std_amount_30d": round(rng.uniform(0, 200), 2),
        "failed_auth_24h": rng.randint(0, 3),
        "ip_risk_score": round(rng.random(), 4),
        "distance_from_home_km": round(rng.expovariate(1 / 50), 2),
        "merchant_fraud_rate_90d": round(rng.random() * 0.05, 5),
    }


def make_transactions(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` valid transaction events, the same ones for the same seed."""
    rng = random.Random(seed)
    return [make_transaction(rng, sequence) for sequence in range(count)]


def encode_events(events: list[dict[str, Any]]) -> list[bytes]:
    """Events serialized as a producer would send them (compact JSON, UTF-8)."""
    return [orjson.dumps(event) for event in events]
