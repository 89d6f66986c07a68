"""The engine's retrain (no broker): partition budgets, decoding, schema filtering and the refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from engine.config.pipeline import PipelineSettings
from engine.errors import ConfigError
import engine.lifecycle.retrain as lifecycle
from engine.lifecycle.retrain import RecentRecords, recent_start_offsets
from engine.pipeline.contract import LabelJoin, PipelinePlugin
from models.fraud.generator import FraudGenerator, make_label


@pytest.mark.parametrize(("watermarks", "budget", "expected"), [
    ({0: (0, 100), 1: (0, 100), 2: (0, 100)}, 30, {0: 90, 1: 90, 2: 90}),
    ({0: (0, 100), 1: (0, 100)}, 1000, {0: 0, 1: 0}),                    # fewer records than asked
    ({0: (0, 5), 1: (0, 100), 2: (0, 100)}, 45, {0: 0, 1: 80, 2: 80}),   # a short partition's share moves on
    ({0: (40, 50), 1: (0, 0)}, 20, {0: 40, 1: 0}),                       # retention deleted the start; empty
    ({0: (0, 10), 1: (0, 10), 2: (0, 10)}, 7, {0: 7, 1: 8, 2: 8}),       # never more than the budget
    ({0: (0, 10)}, 0, {0: 10}),
])
def test_recent_start_offsets(watermarks, budget, expected):
    starts = recent_start_offsets(watermarks, budget)
    assert starts == expected
    assert sum(high - starts[p] for p, (_, high) in watermarks.items()) <= budget


@pytest.mark.parametrize(("value", "decoded"), [
    (b'{"a": 1}', {"a": 1}), (b"{not json", None), (None, None), (b"[1, 2]", None), (b"3", None), (b"\xff", None),
])
def test_only_json_objects_decode(value, decoded):
    assert lifecycle._decode(value) == decoded


class Recorder(PipelinePlugin):
    """A plugin whose retrain records what it was given (fraud's schemas and join key)."""

    name = "recorder"
    input_schema = "fraud.transactions"
    model_inputs = ("features",)
    model_outputs = ("score",)
    labels = LabelJoin("fraud.labels", "event_id")

    def retrain(self, repository, events, labels, *, provenance=None):
        self.called = (repository, events, labels, provenance)
        return "the build"


def fake_reads(monkeypatch, by_topic: dict[str, RecentRecords]) -> list[tuple]:
    calls: list[tuple] = []

    def read(bootstrap, topic, max_records, timeout_s, config=None):
        calls.append((bootstrap, topic, max_records))
        return by_topic[topic]

    monkeypatch.setattr(lifecycle, "read_recent", read)
    return calls


def fraud_records(n: int) -> tuple[list[dict], list[dict]]:
    events, truth = FraudGenerator(seed=2).batch(n)
    return events, [make_label(e, int(y), e["event_time"] + 1) for e, y in zip(events, truth)]


SETTINGS = PipelineSettings(kafka={"bootstrap_servers": "127.0.0.1:1"}, topics={"input": "in"})


def test_retrain_hands_schema_valid_records_and_provenance_to_the_plugin(monkeypatch, tmp_path):
    events, labels = fraud_records(50)
    bad_label = {**labels[0], "label": "yes"}
    calls = fake_reads(monkeypatch, {"in": RecentRecords(events + [{"event_id": "x"}], 2, True),
                                     "lab": RecentRecords(labels[1:] + [bad_label], 1, False)})
    plugin = Recorder()
    result = lifecycle.retrain(SETTINGS, plugin, tmp_path, max_events=80, timeout_s=5, labels_topic="lab",
                               max_labels=60, min_examples=49)
    assert calls == [("127.0.0.1:1", "in", 80), ("127.0.0.1:1", "lab", 60)]
    repository, given_events, given_labels, provenance = plugin.called
    assert repository == Path(tmp_path) and given_events == events and given_labels == labels[1:]
    assert provenance == {"source": "kafka", "topics": ["in", "lab"], "skipped_inputs": 3, "skipped_labels": 2}
    assert result.build == "the build"
    assert (result.inputs, result.labels, result.joined) == (50, 49, 49)
    assert (result.skipped_inputs, result.skipped_labels, result.topics) == (3, 2, ("in", "lab"))
    assert result.complete is False


def test_retrain_refuses_too_few_joined_examples_naming_counts_and_topics(monkeypatch, tmp_path):
    events, labels = fraud_records(30)
    fake_reads(monkeypatch, {"in": RecentRecords(events[:20], 0, True),
                             "fraud.labels": RecentRecords(labels, 0, True)})
    with pytest.raises(ConfigError) as error:
        lifecycle.retrain(SETTINGS, Recorder(), tmp_path, max_events=100, timeout_s=5)
    message = str(error.value)
    assert "only 20 of 30 labels" in message and "'fraud.labels'" in message and "'in'" in message
    assert "at least 1000" in message


def test_retrain_refuses_a_plugin_without_labels_or_retrain(tmp_path):
    class NoLabels(Recorder):
        labels = None

    class NoRetrain(PipelinePlugin):
        name, input_schema, model_inputs, model_outputs = "plain", "fraud.transactions", ("x",), ("y",)
        labels = LabelJoin("fraud.labels", "event_id")

    with pytest.raises(ConfigError, match="has no labels topic"):
        lifecycle.retrain(SETTINGS, NoLabels(), tmp_path, max_events=10, timeout_s=1)
    with pytest.raises(ConfigError, match="has no retrain"):
        lifecycle.retrain(SETTINGS, NoRetrain(), tmp_path, max_events=10, timeout_s=1)


def test_the_engine_side_imports_no_use_case():
    code = "import sys, engine.lifecycle.retrain; print(sorted(m for m in sys.modules if m.split('.')[0] == 'models'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
