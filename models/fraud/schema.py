"""The fraud event contract: field names, types, vocabularies and a pure-Python checker.

This is the single source of truth for the ``fraud.transactions`` and ``fraud.labels``
records on the model side. The JSON Schema used on the wire should agree with it; the
checker here exists for tests and offline tooling, not for the hot path.
"""

from __future__ import annotations

from typing import Any, Final

SCHEMA_VERSION: Final[int] = 1

#: Merchant categories, in the order used for categorical codes (code = index + 1).
MERCHANT_CATEGORIES: Final[tuple[str, ...]] = (
    "grocery", "restaurant", "fuel", "travel", "electronics", "jewelry",
    "gaming", "digital_goods", "pharmacy", "apparel", "utilities", "cash_withdrawal",
)

#: Payment channels, in code order (code = index + 1).
CHANNELS: Final[tuple[str, ...]] = ("pos", "online", "contactless", "atm", "moto")

#: Channels where the physical card is at the terminal.
CARD_PRESENT_CHANNELS: Final[frozenset[str]] = frozenset({"pos", "contactless", "atm"})

#: ISO-3166 alpha-2 countries the generator uses, in code order (code = index + 1).
COUNTRIES: Final[tuple[str, ...]] = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "SE", "CA",
    "MX", "BR", "AU", "JP", "SG", "IN", "CN", "AE", "NG", "ZA",
)

# Field kinds. "int" means a JSON integer (Python int, never bool); "number" accepts
# int or float; bounds are inclusive and None means unbounded.
INT: Final = "int"
NUMBER: Final = "number"
STRING: Final = "string"
BOOL: Final = "bool"

#: (field name, kind, minimum, maximum) in wire order, every field required.
TRANSACTION_FIELD_SPECS: Final[tuple[tuple[str, str, float | None, float | None], ...]] = (
    ("schema_version", INT, SCHEMA_VERSION, SCHEMA_VERSION),
    ("event_id", STRING, None, None),
    ("event_time", INT, 0, None),
    ("card_id", STRING, None, None),
    ("merchant_id", STRING, None, None),
    ("amount", NUMBER, 0, None),
    ("currency", STRING, None, None),
    ("merchant_category", STRING, None, None),
    ("country", STRING, None, None),
    ("card_country", STRING, None, None),
    ("channel", STRING, None, None),
    ("local_hour", INT, 0, 23),
    ("is_weekend", BOOL, None, None),
    ("card_present", BOOL, None, None),
    ("is_new_device", BOOL, None, None),
    ("device_age_days", NUMBER, 0, None),
    ("account_age_days", NUMBER, 0, None),
    ("customer_age", INT, 0, None),
    ("txn_count_1h", INT, 0, None),
    ("txn_count_24h", INT, 0, None),
    ("amount_sum_24h", NUMBER, 0, None),
    ("distinct_merchants_24h", INT, 0, None),
    ("distinct_countries_24h", INT, 0, None),
    ("seconds_since_last_txn", NUMBER, 0, None),
    ("avg_amount_30d", NUMBER, 0, None),
    ("std_amount_30d", NUMBER, 0, None),
    ("failed_auth_24h", INT, 0, None),
    ("ip_risk_score", NUMBER, 0, 1),
    ("distance_from_home_km", NUMBER, 0, None),
    ("merchant_fraud_rate_90d", NUMBER, 0, 1),
)

TRANSACTION_FIELDS: Final[tuple[str, ...]] = tuple(spec[0] for spec in TRANSACTION_FIELD_SPECS)

#: Closed vocabularies of the string fields that have one.
VOCABULARIES: Final[dict[str, tuple[str, ...]]] = {
    "merchant_category": MERCHANT_CATEGORIES,
    "channel": CHANNELS,
    "country": COUNTRIES,
    "card_country": COUNTRIES,
}

LABEL_FIELD_SPECS: Final[tuple[tuple[str, str, float | None, float | None], ...]] = (
    ("schema_version", INT, SCHEMA_VERSION, SCHEMA_VERSION),
    ("event_id", STRING, None, None),
    ("card_id", STRING, None, None),
    ("label", INT, 0, 1),
    ("label_time", INT, 0, None),
    ("event_time", INT, 0, None),
)

LABEL_FIELDS: Final[tuple[str, ...]] = tuple(spec[0] for spec in LABEL_FIELD_SPECS)


def _kind_matches(value: Any, kind: str) -> bool:
    # bool is a subclass of int in Python, but JSON keeps them apart, so must we.
    if kind == BOOL:
        return type(value) is bool
    if kind == INT:
        return type(value) is int
    if kind == NUMBER:
        return type(value) in (int, float) and value == value  # NaN is not a JSON number
    return type(value) is str


def _violations(
    record: dict[str, Any],
    specs: tuple[tuple[str, str, float | None, float | None], ...],
    vocabularies: dict[str, tuple[str, ...]],
) -> list[str]:
    problems: list[str] = []
    expected = {spec[0] for spec in specs}
    extra = set(record) - expected
    if extra:
        problems.append(f"unexpected fields: {sorted(extra)}")
    for name, kind, low, high in specs:
        if name not in record:
            problems.append(f"{name}: missing")
            continue
        value = record[name]
        if not _kind_matches(value, kind):
            problems.append(f"{name}: expected {kind}, got {type(value).__name__}")
            continue
        if low is not None and value < low:
            problems.append(f"{name}: {value} < {low}")
        if high is not None and value > high:
            problems.append(f"{name}: {value} > {high}")
        if name in vocabularies and value not in vocabularies[name]:
            problems.append(f"{name}: {value!r} not in vocabulary")
    if "currency" in record and isinstance(record["currency"], str):
        currency = record["currency"]
        if len(currency) != 3 or not currency.isascii() or not currency.isupper():
            problems.append(f"currency: {currency!r} is not a 3-letter code")
    return problems


def transaction_violations(event: dict[str, Any]) -> list[str]:
    """Check one ``fraud.transactions`` record against the contract.

    Args:
        event: The decoded JSON object.

    Returns:
        Human-readable problems; empty when the event honours the contract.
    """
    return _violations(event, TRANSACTION_FIELD_SPECS, VOCABULARIES)


def label_violations(record: dict[str, Any]) -> list[str]:
    """Check one ``fraud.labels`` record against the contract.

    Args:
        record: The decoded JSON object.

    Returns:
        Human-readable problems; empty when the record honours the contract.
    """
    return _violations(record, LABEL_FIELD_SPECS, {})
