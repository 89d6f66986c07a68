"""Unit tests for the synthetic fraud transaction generator."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from models.fraud.fraud_patterns import FraudPattern
from models.fraud.generator import FraudGenerator, make_label
from models.fraud.schema import TRANSACTION_FIELDS, label_violations, transaction_violations

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _stream(seed: int, sizes: list[int], **kwargs) -> tuple[list[dict], np.ndarray]:
    generator = FraudGenerator(seed, **kwargs)
    events, labels = [], []
    for size in sizes:
        batch, y = generator.batch(size)
        events += batch
        labels.append(y)
    return events, np.concatenate(labels)


def test_same_seed_gives_byte_identical_events() -> None:
    first, labels_a = _stream(3, [2000, 1500])
    second, labels_b = _stream(3, [2000, 1500])
    assert orjson.dumps(first) == orjson.dumps(second)
    np.testing.assert_array_equal(labels_a, labels_b)


def test_stream_does_not_depend_on_how_it_is_sliced() -> None:
    whole, labels_whole = _stream(3, [9000])
    sliced, labels_sliced = _stream(3, [1, 499, 0, 8000, 500])
    assert orjson.dumps(whole) == orjson.dumps(sliced)
    np.testing.assert_array_equal(labels_whole, labels_sliced)


def test_different_seeds_differ() -> None:
    first, _ = _stream(3, [500])
    second, _ = _stream(4, [500])
    assert orjson.dumps(first) != orjson.dumps(second)


def test_event_ids_are_unique_across_batches() -> None:
    events, _ = _stream(5, [1000, 0, 1, 2500])
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)) == 3501


def test_fraud_rate_is_within_one_to_two_percent() -> None:
    _, labels = _stream(6, [10_000] * 4)
    assert labels.dtype == np.int8
    assert 0.01 <= labels.mean() <= 0.02


def test_every_event_honours_the_contract() -> None:
    events, labels = _stream(7, [3000, 3000], drift=0.5)
    for event in events:
        assert list(event) == list(TRANSACTION_FIELDS)
        assert transaction_violations(event) == [], event
    orjson.dumps(events)  # plain Python types only
    assert set(labels.tolist()) <= {0, 1}


def test_event_time_is_non_decreasing_across_batches() -> None:
    events, _ = _stream(8, [1500, 1500, 1500])
    times = np.array([e["event_time"] for e in events])
    assert np.all(np.diff(times) >= 0)


def test_start_time_is_respected() -> None:
    start = 1_700_000_000_000
    events, _ = _stream(9, [200], start_time_ms=start)
    assert start <= events[0]["event_time"] < start + DAY_MS


def test_velocity_features_match_a_brute_force_recount() -> None:
    # Few cards -> many transactions per card, and three batches exercise carried state.
    events, _ = _stream(10, [700, 700, 700], n_cards=40)
    seen: dict[str, list[dict]] = {}
    for event in events:
        history = seen.setdefault(event["card_id"], [])
        history.append(event)
        t = event["event_time"]
        day = [h for h in history if h["event_time"] > t - DAY_MS]
        hour = [h for h in history if h["event_time"] > t - HOUR_MS]
        assert event["txn_count_1h"] == len(hour)
        assert event["txn_count_24h"] == len(day)
        assert event["amount_sum_24h"] == pytest.approx(sum(h["amount"] for h in day), abs=0.006)
        assert event["distinct_merchants_24h"] == len({h["merchant_id"] for h in day})
        assert event["distinct_countries_24h"] == len({h["country"] for h in day})
        if len(history) > 1:
            expected = (t - history[-2]["event_time"]) / 1000
            assert event["seconds_since_last_txn"] == pytest.approx(expected, abs=1e-3)


def test_drift_changes_the_input_distribution() -> None:
    calm, calm_labels = _stream(11, [20_000], drift=0.0)
    drifted, drifted_labels = _stream(11, [20_000], drift=1.0)

    def legit_mean_amount(events: list[dict], labels: np.ndarray) -> float:
        return float(np.mean([e["amount"] for e, y in zip(events, labels) if not y]))

    def online_share(events: list[dict]) -> float:
        return float(np.mean([e["channel"] == "online" for e in events]))

    assert legit_mean_amount(drifted, drifted_labels) > 1.2 * legit_mean_amount(calm, calm_labels)
    assert online_share(drifted) > online_share(calm) + 0.1


def test_drift_introduces_an_unseen_fraud_pattern() -> None:
    generator = FraudGenerator(12)
    generator.batch(20_000)
    assert FraudPattern.SOCIAL_ENGINEERING not in set(generator.last_patterns.tolist())
    generator.set_drift(1.0)
    generator.batch(20_000)
    assert FraudPattern.SOCIAL_ENGINEERING in set(generator.last_patterns.tolist())


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_drift_outside_unit_interval_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError):
        FraudGenerator(1, drift=bad)
    with pytest.raises(ValueError):
        FraudGenerator(1).set_drift(bad)


def test_make_label_builds_a_valid_label_record() -> None:
    events, labels = _stream(13, [300])
    event = events[0]
    record = make_label(event, int(labels[0]), event["event_time"] + 60_000)
    assert label_violations(record) == []
    assert record["event_id"] == event["event_id"]
    assert record["card_id"] == event["card_id"]
    assert record["event_time"] == event["event_time"]
    assert label_violations({**record, "label": True}) != []  # bool is not an int on the wire
