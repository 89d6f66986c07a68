"""The fraud retrain: joining transactions with labels, the time split, malformed records, version N+1."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from engine.errors import ConfigError
from models import triton_repo
from models.fraud.generator import FraudGenerator, make_label
from models.fraud.pipeline import FraudPipeline
from models.fraud.retrain import join_labels, retrain_fraud_model, split_by_time
from models.fraud.schema import label_violations

DAY_MS = 86_400_000


def stream(n: int, seed: int = 3) -> tuple[list[dict], list[dict], np.ndarray]:
    """``n`` transactions, their ``fraud.labels`` records (known a day later) and the truth."""
    events, truth = FraudGenerator(seed=seed).batch(n)
    labels = [make_label(event, int(y), event["event_time"] + DAY_MS) for event, y in zip(events, truth)]
    return events, labels, truth


def test_join_pairs_every_event_with_its_label_in_event_time_order():
    events, labels, truth = stream(2000)
    shuffled_events, shuffled_labels = events[:], labels[:]
    random.Random(1).shuffle(shuffled_events)  # partitions come back interleaved
    random.Random(2).shuffle(shuffled_labels)
    joined = join_labels(shuffled_events, shuffled_labels)
    assert all(not label_violations(label) for label in labels)  # the helper writes the wire contract
    assert len(joined) == 2000
    assert (joined.skipped_events, joined.skipped_labels, joined.unmatched_labels) == (0, 0, 0)
    times = [e["event_time"] for e in joined.events]
    assert times == sorted(times)
    expected = {e["event_id"]: int(y) for e, y in zip(events, truth)}
    assert [expected[e["event_id"]] for e in joined.events] == joined.labels.tolist()


def test_events_without_a_label_are_left_out_and_labels_without_an_event_counted():
    events, labels, _ = stream(500)
    joined = join_labels(events[:400], labels[100:])
    assert len(joined) == 300
    assert {e["event_id"] for e in joined.events} == {e["event_id"] for e in events[100:400]}
    assert joined.unmatched_labels == 100


def test_malformed_labels_are_skipped_and_counted_not_fatal():
    events, labels, _ = stream(300)
    good = labels[10:]
    first = labels[:10]
    malformed = [
        {k: v for k, v in first[0].items() if k != "label"},          # missing label
        {k: v for k, v in first[1].items() if k != "event_id"},       # missing key
        {**first[2], "label": "1"},                                    # string label
        {**first[3], "label": True},                                   # bool is not a JSON integer
        {**first[4], "label": 2},                                      # outside {0, 1}
        {**first[5], "event_id": 12345},                               # wrong key type
        {**first[6], "label_time": 1.5e12},                            # float time
        {**first[7], "surprise": "x"},                                 # not in the schema
        ["not", "an", "object"],
        None,
        "fraud",
    ]
    mixed = good[:100] + malformed + good[100:]
    joined = join_labels(events, mixed)
    assert joined.skipped_labels == len(malformed)
    assert len(joined) == len(good)
    assert {e["event_id"] for e in joined.events} == {label["event_id"] for label in good}


def test_malformed_and_repeated_events_are_skipped_and_counted():
    events, labels, _ = stream(200)
    broken = [{k: v for k, v in events[0].items() if k != "amount"}, {**events[1], "amount": "12.50"}, 7,
              dict(events[5])]  # a producer retry of events[5]
    joined = join_labels(broken + events[2:], labels)
    assert joined.skipped_events == 4
    assert len(joined) == 198
    assert joined.unmatched_labels == 2


def test_the_label_known_last_wins():
    events, labels, _ = stream(50)
    target = labels[7]
    overturned = {**target, "label": 1 - target["label"], "label_time": target["label_time"] + DAY_MS}
    joined = join_labels(events, [overturned] + labels)  # the newer label arrives first
    position = [e["event_id"] for e in joined.events].index(target["event_id"])
    assert joined.labels[position] == overturned["label"]
    assert len(joined) == 50


def test_split_holds_out_the_newest_fifth():
    events, labels, _ = stream(3000)
    train, test = split_by_time(join_labels(events, labels))
    assert (len(train), len(test)) == (2400, 600)
    assert max(e["event_time"] for e in train.events) <= min(e["event_time"] for e in test.events)


def test_split_refuses_a_training_part_with_one_class():
    events, labels, _ = stream(500)
    legit = [{**label, "label": 0} for label in labels]
    with pytest.raises(ConfigError, match="both classes"):
        split_by_time(join_labels(events, legit))
    with pytest.raises(ConfigError, match="cannot be split"):
        split_by_time(join_labels(events[:1], labels[:1]))


def test_retrain_writes_version_after_version_warm_starting_from_the_newest(tmp_path):
    events, labels, _ = stream(4000, seed=5)
    provenance = {"source": "kafka", "topics": ["t.in", "t.labels"]}
    first = retrain_fraud_model(tmp_path, events, labels, provenance=provenance, epochs=1)
    assert first.version == 1 and not first.from_cache
    one = json.loads((first.path / triton_repo.METADATA_FILENAME).read_text())
    assert one["parent_version"] is None and one["warm_start"] is False
    assert one["trained_from"]["source"] == "kafka"
    assert one["trained_from"]["topics"] == ["t.in", "t.labels"]
    assert (one["trained_from"]["inputs"], one["trained_from"]["labels"], one["trained_from"]["examples"]) == (
        4000, 4000, 4000)
    assert (tmp_path / "fraud" / "config.pbtxt").is_file()
    first_bytes = (first.path / triton_repo.TORCHSCRIPT_FILENAME).read_bytes()

    second = FraudPipeline().retrain(tmp_path, events, labels)  # through the plugin, no provenance
    assert second.version == 2
    two = json.loads((second.path / triton_repo.METADATA_FILENAME).read_text())
    assert (two["parent_version"], two["warm_start"]) == (1, True)
    assert two["trained_from"]["source"] == "records"
    assert 0.0 <= two["metrics"]["test"]["roc_auc"] <= 1.0
    assert "roc_auc" in two["metrics"]["parent_test"]
    assert (first.path / triton_repo.TORCHSCRIPT_FILENAME).read_bytes() == first_bytes  # never overwritten
    assert FraudPipeline().describe_metrics(two["metrics"])  # models build's summary reads retrains too
