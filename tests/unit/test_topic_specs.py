"""Topic catalog, schemas and examples, and the drift plan (no broker needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.codec import DlqReason
from engine.errors import ConfigError
from engine.topics import (
    DEFAULT_CATALOG_PATH,
    ApplyReport,
    SchemaRegistry,
    TopicCatalog,
    TopicStatus,
)
from engine.topics.apply import REPLICATION_FACTOR_ENV, resolve_replication_factor
from engine.topics.metaschema import check_json_schema
from engine.topics.plan import TopicState, plan_topic

TOPICS_DIR = DEFAULT_CATALOG_PATH.parent
TOPIC_NAMES = TopicCatalog.load().names
# Topics the engine consumes from producers it does not control: strict schemas.
INPUT_TOPICS = ("fraud.transactions", "fraud.labels", "recs.requests", "recs.feedback")
# Dead-letter topic -> the input topic whose rejected records it holds.
DEAD_LETTERS = {"fraud.dlq": "fraud.transactions", "recs.dlq": "recs.requests"}
_SCALAR_TYPES = ("integer", "number", "string", "boolean", "null")


@pytest.fixture(scope="module")
def catalog() -> TopicCatalog:
    return TopicCatalog.load()


@pytest.fixture(scope="module")
def registry(catalog) -> SchemaRegistry:
    return SchemaRegistry(catalog)


# --- the shipped catalog, schemas and examples ---------------------------------------------


def test_catalog_declares_the_pipeline_topics(catalog):
    expected = {
        "fraud.transactions": 6,
        "fraud.scores": 6,
        "fraud.labels": 6,
        "fraud.dlq": 3,
        "alerts": 1,
        "fraud.shadow": 3,
        "recs.requests": 6,
        "recs.ranked": 6,
        "recs.feedback": 6,
        "recs.dlq": 3,
        "recs.shadow": 1,
        "fraud.rollout": 1,
        "recs.rollout": 1,
        "fraud.mirror": 6,
        "recs.mirror": 6,
        "rollouts": 1,
    }
    assert {spec.name: spec.partitions for spec in catalog} == expected


def test_every_dead_letter_topic_names_its_input(catalog):
    dead_letter_topics = {name for name in catalog.names if name.endswith(".dlq")}
    assert dead_letter_topics == set(DEAD_LETTERS)
    assert set(DEAD_LETTERS.values()) <= set(INPUT_TOPICS)


@pytest.mark.parametrize(("dlq", "input_topic"), sorted(DEAD_LETTERS.items()))
def test_dlq_can_hold_any_record_the_input_topic_can(catalog, dlq, input_topic):
    input_limit = int(catalog.spec(input_topic).config["max.message.bytes"])
    dlq_limit = int(catalog.spec(dlq).config["max.message.bytes"])
    assert input_limit > 1_048_576  # the decoder's default max_bytes, plus record overhead
    assert dlq_limit >= input_limit + 64 * 1024  # room for the streaminfer.dlq.* headers


@pytest.mark.parametrize("schema_path", sorted((TOPICS_DIR / "schemas").glob("*.json")))
def test_every_schema_file_is_valid_draft_07(schema_path):
    schema = json.loads(schema_path.read_text())
    assert check_json_schema(schema) is None
    assert schema["$id"].endswith(schema_path.name)
    assert schema["title"] and schema["description"]
    for name, field in _all_properties(schema):
        assert field.get("description"), f"{schema_path.name}: {name} has no description"


@pytest.mark.parametrize("topic", INPUT_TOPICS)
def test_input_schemas_allow_no_extra_fields(registry, topic):
    schema = registry.schema(topic)
    assert schema["additionalProperties"] is False
    for name, field in _all_properties(schema):  # nested objects too (recs.requests' context)
        if field.get("type") == "object":
            assert field.get("additionalProperties") is False, f"{topic}: {name}"


@pytest.mark.parametrize("topic", TOPIC_NAMES)
def test_every_topic_has_examples_that_validate(registry, topic):
    examples = json.loads((TOPICS_DIR / "examples" / f"{topic}.json").read_text(encoding="utf-8"))
    assert isinstance(examples, list) and examples
    for example in examples:
        registry.validator(topic)(example)


@pytest.mark.parametrize("dlq", sorted(DEAD_LETTERS))
def test_dlq_schema_lists_exactly_the_reason_codes(registry, dlq):
    properties = registry.schema(dlq)["properties"]
    assert properties["streaminfer.dlq.reason"]["enum"] == [reason.value for reason in DlqReason]


def test_dead_letter_schemas_share_one_header_contract(registry):
    # Replay and dashboards read every DLQ the same way: only names and descriptions differ.
    contract_keys = ("type", "additionalProperties", "required", "properties")
    first, *others = [
        {key: registry.schema(dlq)[key] for key in contract_keys} for dlq in DEAD_LETTERS
    ]
    assert others and all(contract == first for contract in others)


@pytest.mark.parametrize("topic", TOPIC_NAMES)
def test_flat_schemas_and_only_those_get_a_fast_path(registry, topic):
    # Flat (required scalars only, no extra fields) compiles to a fast path; anything nested,
    # optional or open (alerts, recs.requests' arrays and context) is left to fastjsonschema.
    flat = _is_flat(registry.schema(topic))
    assert (registry.fast_path(topic) is not None) is flat


def test_registry_names_unknown_topics(registry):
    with pytest.raises(ConfigError, match="no schema for topic 'nope'"):
        registry.validator("nope")


def test_flatness_rule_sees_nesting_and_optional_fields(registry):
    assert _is_flat(registry.schema("fraud.transactions"))
    assert _is_flat(registry.schema("recs.feedback"))
    assert not _is_flat(registry.schema("recs.requests"))  # arrays, a nested object, optional k
    assert not _is_flat(registry.schema("alerts"))


def _is_flat(schema):
    properties = schema.get("properties", {})
    return (
        schema.get("type") == "object"
        and schema.get("additionalProperties") is False
        and bool(properties)
        and set(schema.get("required", ())) == set(properties)
        and all(field.get("type") in _SCALAR_TYPES for field in properties.values())
    )


def _all_properties(schema, prefix=""):
    for name, field in schema.get("properties", {}).items():
        yield prefix + name, field
        yield from _all_properties(field, prefix + name + ".")
        if isinstance(field.get("items"), dict):
            yield from _all_properties(field["items"], prefix + name + "[].")


# --- catalog validation errors --------------------------------------------------------------

GOOD_SCHEMA = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}


def write_catalog(tmp_path: Path, topic_changes=None, top_level=None, schema=GOOD_SCHEMA) -> Path:
    (tmp_path / "t.v1.json").write_text(schema if isinstance(schema, str) else json.dumps(schema))
    topic = {
        "name": "t",
        "description": "test topic",
        "partitions": 3,
        "replication_factor": 1,
        "schema_file": "t.v1.json",
        "config": {"retention.ms": 1000, "cleanup.policy": "delete"},
    }
    topic.update(topic_changes or {})
    document = {"topics": [topic], **(top_level or {})}
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_minimal_catalog_loads_with_configs_as_kafka_text(tmp_path):
    catalog = TopicCatalog.load(write_catalog(tmp_path, {"config": {"preallocate": True}}))
    assert catalog.spec("t").config == {"preallocate": "true"}


@pytest.mark.parametrize(
    ("topic_changes", "top_level", "message"),
    [
        ({"partitions": 0}, None, "topic 't': field 'partitions': Input should be greater than 0"),
        ({"partitions": -2}, None, "field 'partitions'"),
        ({"replication_factor": 0}, None, "field 'replication_factor'"),
        ({"colour": "blue"}, None, "topic 't': field 'colour': unknown key"),
        (None, {"extra": 1}, "key 'extra': unknown key"),
        ({"config": {"cleanup.policy": "forever"}}, None, "cleanup.policy must be one of"),
        ({"config": {"retention.m": 1}}, None, "'retention.m' is not a Kafka topic config"),
        ({"config": {"retention.ms": "week"}}, None, "retention.ms must be an integer"),
        ({"config": {"min.insync.replicas": 0}}, None, "min.insync.replicas must be >= 1"),
        ({"config": {"compression.type": "brotli"}}, None, "compression.type must be one of"),
        ({"name": "bad name!"}, None, "field 'name'"),
        ({"description": ""}, None, "field 'description'"),
        ({"schema_file": "missing.json"}, None, "topic 't': schema_file 'missing.json': cannot"),
    ],
)
def test_invalid_catalog_is_a_config_error_naming_topic_and_field(
    tmp_path, topic_changes, top_level, message
):
    with pytest.raises(ConfigError) as caught:
        TopicCatalog.load(write_catalog(tmp_path, topic_changes, top_level))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("{not json", "not valid JSON"),
        ({**GOOD_SCHEMA, "type": "strng"}, "not a valid draft-07 JSON Schema: schema.type"),
        ({**GOOD_SCHEMA, "properties": {"a": {"pattern": "("}}}, "must be a valid regex"),
        ({**GOOD_SCHEMA, "$ref": "#/definitions/none"}, "does not compile"),
        ({"type": "object"}, "$schema must be"),
    ],
)
def test_invalid_schema_is_a_config_error_naming_the_topic(tmp_path, schema, message):
    with pytest.raises(ConfigError) as caught:
        TopicCatalog.load(write_catalog(tmp_path, schema=schema))
    assert "topic 't': schema_file 't.v1.json'" in str(caught.value)
    assert message in str(caught.value)


def test_duplicate_topic_names_are_rejected(tmp_path):
    path = write_catalog(tmp_path)
    document = yaml.safe_load(path.read_text())
    document["topics"].append(dict(document["topics"][0]))
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="declared twice"):
        TopicCatalog.load(path)


def test_missing_catalog_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read topic catalog"):
        TopicCatalog.load(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("topics: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TopicCatalog.load(tmp_path / "bad.yaml")


# --- prefix and replication factor ----------------------------------------------------------


def test_name_prefix_namespaces_every_topic(catalog):
    prefixed = catalog.with_name_prefix("it-42-")
    assert prefixed.names == ["it-42-" + name for name in catalog.names]
    with pytest.raises(ConfigError):
        catalog.with_name_prefix("bad prefix ")


def test_min_insync_replicas_is_capped_at_the_replication_factor(catalog):
    local = catalog.spec("fraud.dlq")
    assert local.config["min.insync.replicas"] == "2"
    assert local.broker_config()["min.insync.replicas"] == "1"
    production = catalog.with_replication_factor(3).spec("fraud.dlq")
    assert production.replication_factor == 3
    assert production.broker_config()["min.insync.replicas"] == "2"


def test_replication_factor_override_from_argument_then_environment(monkeypatch):
    monkeypatch.delenv(REPLICATION_FACTOR_ENV, raising=False)
    assert resolve_replication_factor(None) is None
    monkeypatch.setenv(REPLICATION_FACTOR_ENV, "3")
    assert resolve_replication_factor(None) == 3
    assert resolve_replication_factor(2) == 2
    for bad in ("three", "0"):
        monkeypatch.setenv(REPLICATION_FACTOR_ENV, bad)
        with pytest.raises(ConfigError, match=REPLICATION_FACTOR_ENV):
            resolve_replication_factor(None)


# --- drift plan -----------------------------------------------------------------------------


def state_matching(spec, **changes) -> TopicState:
    values = dict(
        name=spec.name,
        partitions=spec.partitions,
        replication_factor=spec.replication_factor,
        config={"segment.ms": "604800000", **spec.broker_config()},
        overrides=dict(spec.broker_config()),
    )
    values.update(changes)
    return TopicState(**values)


def test_missing_topic_is_created(catalog):
    assert plan_topic(catalog.spec("alerts"), None).status is TopicStatus.CREATED


def test_matching_topic_is_in_sync(catalog):
    spec = catalog.spec("fraud.scores")
    outcome = plan_topic(spec, state_matching(spec))
    assert outcome.status is TopicStatus.IN_SYNC
    assert not outcome.changes and not outcome.unfixable and not outcome.unmanaged


def test_more_partitions_in_the_spec_is_an_update(catalog):
    spec = catalog.spec("fraud.scores")
    outcome = plan_topic(spec, state_matching(spec, partitions=4))
    assert outcome.status is TopicStatus.UPDATED
    assert [str(change) for change in outcome.changes] == ["partitions: 4 -> 6"]


def test_fewer_partitions_or_other_replication_is_unfixable(catalog):
    spec = catalog.spec("fraud.scores")
    outcome = plan_topic(spec, state_matching(spec, partitions=12, replication_factor=3))
    assert outcome.status is TopicStatus.DRIFT_NOT_FIXABLE
    assert [change.key for change in outcome.unfixable] == ["partitions", "replication_factor"]
    assert "cannot remove partitions" in outcome.unfixable[0].note


def test_config_difference_is_an_update_with_old_and_new(catalog):
    spec = catalog.spec("fraud.labels")
    state = state_matching(spec)
    state.config["retention.ms"] = "1000"
    outcome = plan_topic(spec, state)
    assert outcome.status is TopicStatus.UPDATED
    assert [str(change) for change in outcome.changes] == ["retention.ms: 1000 -> 2592000000"]


def test_equivalent_cleanup_policies_are_in_sync(tmp_path):
    catalog = TopicCatalog.load(
        write_catalog(tmp_path, {"config": {"cleanup.policy": "delete,compact"}})
    )
    spec = catalog.spec("t")
    state = state_matching(spec, config={"cleanup.policy": "compact, delete"})
    assert plan_topic(spec, state).status is TopicStatus.IN_SYNC


def test_hand_made_overrides_are_reported_not_touched(catalog):
    spec = catalog.spec("alerts")
    state = state_matching(spec)
    state.overrides["segment.ms"] = "3600000"
    outcome = plan_topic(spec, state)
    assert outcome.status is TopicStatus.IN_SYNC
    assert outcome.unmanaged == {"segment.ms": "3600000"}


def test_report_renders_one_line_per_topic_and_change(catalog):
    spec = catalog.spec("fraud.scores")
    report = ApplyReport(
        bootstrap="127.0.0.1:9092",
        applied=False,
        topics=[
            plan_topic(catalog.spec("alerts"), None),
            plan_topic(spec, state_matching(spec, partitions=12)),
        ],
    )
    text = report.render()
    assert "alerts        to create" in text
    assert "! partitions: 12 -> 6 (Kafka cannot remove partitions" in text
    assert not report.in_sync
    assert [topic.name for topic in report.drift] == ["fraud.scores"]
