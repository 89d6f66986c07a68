"""Alert records, deduplication/cooldown and the publisher (a stand-in producer, no broker)."""

from __future__ import annotations

import json

import fastjsonschema
import orjson
import pytest

from engine.alerts.manager import ALERT_KINDS, AlertBuilder, AlertManager, AlertPublisher, alert_validator
from engine.alerts.gate import AlertGate
from engine.paths import TOPICS_DIR

MINUTE = 60_000


class FakeProducer:
    """Records produce() calls; delivers on poll/flush."""

    def __init__(self):
        self.records, self._pending = [], []

    def produce(self, topic, value, key, on_delivery=None):
        self.records.append((topic, key, orjson.loads(value)))
        self._pending.append(on_delivery)

    def poll(self, _timeout=0):
        while self._pending:
            callback = self._pending.pop()
            if callback:
                callback(None, None)
        return 0

    def flush(self, _timeout=0):
        self.poll()
        return 0


def _evidence(summary="drift"):
    return {"detector": "adwin", "summary": summary, "statistic": 0.3, "threshold": None,
            "window": {"from_time": 1, "to_time": 2, "events": 10}, "before": {"mean": 1.0}, "after": {"mean": 2.0}}


# --- the gate: one page per dedup key per cooldown --------------------------------------------------------


def test_first_firing_publishes_and_repeats_within_the_cooldown_do_not():
    gate = AlertGate(cooldown_ms=30 * MINUTE)
    assert gate.offer("k", 0).publish
    decisions = [gate.offer("k", t * MINUTE) for t in range(1, 30)]   # flapping every minute
    assert not any(d.publish for d in decisions)
    assert decisions[-1].count == 30 and decisions[-1].first_seen == 0
    assert (gate.published, gate.suppressed) == (1, 29)


def test_a_still_firing_incident_is_republished_once_per_cooldown_with_its_count():
    gate = AlertGate(cooldown_ms=30 * MINUTE)
    published = [t for t in range(0, 91) if gate.offer("k", t * MINUTE).publish]
    assert published == [0, 30, 60, 90]
    reminder = AlertGate(cooldown_ms=10)
    reminder.offer("k", 0)
    reminder.offer("k", 5)
    decision = reminder.offer("k", 10)
    assert decision.publish and decision.count == 3 and (decision.first_seen, decision.last_seen) == (0, 10)


def test_after_a_quiet_cooldown_a_new_incident_opens():
    gate = AlertGate(cooldown_ms=30 * MINUTE)
    gate.offer("k", 0)
    gate.offer("k", MINUTE)
    decision = gate.offer("k", 31 * MINUTE + 1)
    assert decision.publish and decision.count == 1 and decision.first_seen == 31 * MINUTE + 1


def test_keys_are_independent_and_closed_incidents_are_pruned():
    gate = AlertGate(cooldown_ms=100)
    assert gate.offer("a", 0).publish and gate.offer("b", 1).publish
    assert not gate.offer("a", 2).publish
    assert gate.prune(now_ms=50) == 0
    assert gate.prune(now_ms=102) == 2 and gate.open_incidents == 0


def test_zero_cooldown_publishes_everything():
    gate = AlertGate(cooldown_ms=0)
    assert all(gate.offer("k", 5).publish for _ in range(3))


# --- records -------------------------------------------------------------------------------------------


def test_alert_kinds_match_the_schema():
    schema = json.loads((TOPICS_DIR / "schemas" / "alerts.v1.json").read_text())
    assert tuple(schema["properties"]["kind"]["enum"]) == ALERT_KINDS


@pytest.mark.parametrize("kind", ALERT_KINDS)
def test_built_alerts_of_every_kind_are_schema_valid(kind):
    builder = AlertBuilder("fraud", "fraud", "3")
    alert = builder.build(kind, "warning", "log_amount", _evidence(), dedup_key=builder.dedup_key(kind, "log_amount"),
                          first_seen=1, last_seen=2, count=1, event_id="abc")
    alert_validator()(alert.to_record())


def test_dedup_key_names_pipeline_kind_subject_and_detector():
    builder = AlertBuilder("fraud", "fraud")
    assert builder.dedup_key("feature_drift", "log_amount", "adwin") == "fraud/feature_drift/log_amount/adwin"
    assert builder.dedup_key("inference_down", "triton") == "fraud/inference_down/triton"


def test_model_version_is_unknown_until_scores_reveal_it():
    builder = AlertBuilder("fraud", "fraud")
    assert builder.model_version == "unknown"
    builder.set_model("fraud", "7")
    assert builder.model_version == "7"


def test_builder_rejects_unknown_kinds_and_severities():
    builder = AlertBuilder("fraud", "fraud")
    with pytest.raises(ValueError):
        builder.build("bad_kind", "warning", "s", _evidence(), dedup_key="k", first_seen=1, last_seen=1, count=1)
    with pytest.raises(ValueError):
        builder.build("feature_drift", "loud", "s", _evidence(), dedup_key="k", first_seen=1, last_seen=1, count=1)


# --- publisher and manager -------------------------------------------------------------------------------


def test_publisher_produces_valid_json_keyed_by_dedup_key():
    producer = FakeProducer()
    publisher = AlertPublisher("unused:9092", "alerts", producer=producer)
    manager = AlertManager(AlertBuilder("fraud", "fraud", "3"), AlertGate(MINUTE), publisher,
                           severity={"concept_drift": "critical"})
    alert = manager.raise_alert("concept_drift", "fraud:error_rate", _evidence(), now_ms=1_000, detector="hddm_a")
    assert publisher.flush() == 0 and publisher.delivered == 1
    topic, key, record = producer.records[0]
    assert (topic, key) == ("alerts", b"fraud/concept_drift/fraud:error_rate/hddm_a")
    assert record == alert.to_record() and record["severity"] == "critical"
    assert (record["first_seen"], record["last_seen"], record["count"]) == (1_000, 1_000, 1)


def test_manager_returns_none_when_the_gate_suppresses():
    producer = FakeProducer()
    manager = AlertManager(AlertBuilder("fraud", "fraud"), AlertGate(MINUTE),
                           AlertPublisher("unused:9092", producer=producer))
    assert manager.raise_alert("slo_breach", "p99", _evidence(), now_ms=0) is not None
    assert manager.raise_alert("slo_breach", "p99", _evidence(), now_ms=10) is None
    assert len(producer.records) == 1


def test_publisher_refuses_an_alert_that_breaks_the_contract():
    publisher = AlertPublisher("unused:9092", producer=FakeProducer())
    builder = AlertBuilder("fraud", "fraud")
    bad = builder.build("feature_drift", "info", "x", {"summary": "no detector field"}, dedup_key="k",
                        first_seen=1, last_seen=1, count=1)
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        publisher.publish(bad)


def test_manager_without_publisher_records_what_it_would_send():
    manager = AlertManager(AlertBuilder("fraud", "fraud"), AlertGate(MINUTE))
    manager.raise_alert("error_rate", "serve", _evidence(), now_ms=0)
    assert [a.kind for a in manager.sent] == ["error_rate"]


# --- `streaminfer alerts tail` formatting and filters ----------------------------------------------------------


def test_tail_filters_by_kind_and_minimum_severity_and_prints_one_line():
    from engine.cli.alerts_cmd import format_alert, wanted

    builder = AlertBuilder("fraud", "fraud", "3")
    record = builder.build("concept_drift", "critical", "fraud:error_rate", _evidence("error rate 1% → 4%"),
                           dedup_key="fraud/concept_drift/fraud:error_rate/hddm_a", first_seen=0,
                           last_seen=1_763_777_000_000, count=3).to_record()
    assert wanted(record, None, None) and wanted(record, ["concept_drift"], "warning")
    assert not wanted(record, ["feature_drift"], None)
    assert not wanted({**record, "severity": "info"}, None, "warning")
    line = format_alert(record)
    assert line.startswith("2025-11-22T") and "CRITICAL" in line and "×3" in line and "error rate 1% → 4%" in line


def test_gate_pickled_under_its_old_module_path_still_restores():
    # Learner checkpoints written before the gate moved to engine.alerts name engine.learn.dedup.
    import pickle

    gate = AlertGate(cooldown_ms=1000)
    gate.offer("fraud/concept_drift/champion", 5)
    blob = pickle.dumps(gate)
    assert b"engine.alerts.gate" in blob
    old = blob.replace(b"engine.alerts.gate", b"engine.learn.dedup")  # same length: framing stays valid
    restored = pickle.loads(old)
    assert restored.offer("fraud/concept_drift/champion", 10).publish is False  # incident state came back
