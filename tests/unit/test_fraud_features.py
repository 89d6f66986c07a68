"""Unit tests for hot-path fraud feature extraction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.fraud.features import CATEGORICAL_COLUMNS, FEATURE_NAMES, FraudFeatures
from models.fraud.generator import FraudGenerator
from models.fraud.schema import CHANNELS, COUNTRIES, MERCHANT_CATEGORIES


@pytest.fixture(scope="module")
def events() -> list[dict]:
    batch, _ = FraudGenerator(21).batch(3000)
    return batch


def _reference_row(event: dict) -> dict[str, float]:
    """Slow, obviously-correct per-event version of a few features."""
    hour_angle = 2 * math.pi * event["local_hour"] / 24
    amount = event["amount"]
    return {
        "log_amount": math.log1p(event["amount"]),
        "amount_zscore": min(50.0, max(-10.0, (amount - event["avg_amount_30d"]) / (event["std_amount_30d"] + 1))),
        "hour_sin": math.sin(hour_angle),
        "hour_cos": math.cos(hour_angle),
        "is_night": float(event["local_hour"] < 6),
        "country_mismatch": float(event["country"] != event["card_country"]),
        "is_new_device": float(event["is_new_device"]),
        "card_present": float(event["card_present"]),
        "customer_age": float(event["customer_age"]),
        "log_txn_count_24h": math.log1p(event["txn_count_24h"]),
        "log_seconds_since_last_txn": math.log1p(event["seconds_since_last_txn"]),
        "merchant_category_code": float(MERCHANT_CATEGORIES.index(event["merchant_category"]) + 1),
        "channel_code": float(CHANNELS.index(event["channel"]) + 1),
        "country_code": float(COUNTRIES.index(event["country"]) + 1),
        "card_country_code": float(COUNTRIES.index(event["card_country"]) + 1),
    }


def test_shape_dtype_layout_and_finiteness(events: list[dict]) -> None:
    features = FraudFeatures().extract(events)
    assert features.shape == (len(events), len(FEATURE_NAMES))
    assert features.dtype == np.float32
    assert features.flags["C_CONTIGUOUS"]
    assert np.isfinite(features).all()


def test_feature_names_and_categorical_columns_are_consistent() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) == FraudFeatures().n_features
    assert 25 <= len(FEATURE_NAMES) <= 35
    vocab_sizes = {
        "merchant_category_code": len(MERCHANT_CATEGORIES) + 1,
        "channel_code": len(CHANNELS) + 1,
        "country_code": len(COUNTRIES) + 1,
        "card_country_code": len(COUNTRIES) + 1,
    }
    assert {FEATURE_NAMES[i]: size for i, size in CATEGORICAL_COLUMNS.items()} == vocab_sizes


def test_vectorised_values_match_a_per_event_reference(events: list[dict]) -> None:
    features = FraudFeatures().extract(events[:200])
    column = {name: i for i, name in enumerate(FEATURE_NAMES)}
    for row, event in zip(features, events[:200]):
        for name, expected in _reference_row(event).items():
            assert row[column[name]] == pytest.approx(expected, rel=1e-5, abs=1e-5), name


def test_booleans_are_zero_or_one(events: list[dict]) -> None:
    features = FraudFeatures().extract(events)
    for name in ("is_weekend", "card_present", "is_new_device", "country_mismatch", "is_night"):
        assert set(np.unique(features[:, FEATURE_NAMES.index(name)]).tolist()) <= {0.0, 1.0}


def test_unknown_categorical_values_map_to_code_zero(events: list[dict]) -> None:
    odd = {**events[0], "merchant_category": "crypto", "channel": "teleport", "country": "ZZ", "card_country": "XX"}
    row = FraudFeatures().extract([odd, events[0]])[0]
    for name in ("merchant_category_code", "channel_code", "country_code", "card_country_code"):
        assert row[FEATURE_NAMES.index(name)] == 0.0
    # Two different unknown countries are still a mismatch.
    assert row[FEATURE_NAMES.index("country_mismatch")] == 1.0


def test_rows_do_not_depend_on_batch_composition(events: list[dict]) -> None:
    extractor = FraudFeatures()
    together = extractor.extract(events[:50])
    alone = np.vstack([extractor.extract([event]) for event in events[:50]])
    np.testing.assert_array_equal(together, alone)


def test_empty_batch() -> None:
    assert FraudFeatures().extract([]).shape == (0, len(FEATURE_NAMES))
