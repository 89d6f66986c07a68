"""A batch during a rollout: split by key into parts, each scored by its version, records stamped with
the version that produced them, mirror records on the side, counts for the step (no Kafka, no Triton)."""

from __future__ import annotations

import time

import numpy as np
import orjson
from confluent_kafka import Message

from engine.batching.batch_builder import BatchBuilder
from engine.codec.decode import EventDecoder
from engine.publish.records import RecordContext, batch_records
from engine.rollout.assign import CandidateHealth, PartAssigner
from engine.rollout.collector import RolloutCollector
from engine.rollout.plan import RolloutMode, RolloutPlan, RolloutState
from engine.rollout.routing import BUCKETS, key_bucket
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models.fraud.generator import FraudGenerator
from models.fraud.pipeline import FraudPipeline

PLUGIN = FraudPipeline()
CONTEXT = RecordContext("fraud", "w0", "fraud.scores", "fraud.dlq", "fraud", PLUGIN, "fraud.mirror")


def plan(mode: RolloutMode, weight: float = 0.0, mirror_rate: float = 0.0, state=RolloutState.ACTIVE) -> RolloutPlan:
    return RolloutPlan(pipeline="fraud", generation=1, plan_id="fraud-2-test", champion="1",
                       candidate="2" if state == RolloutState.ACTIVE else "", mode=mode, state=state,
                       weight=weight, mirror_rate=mirror_rate)


def batch_of(n: int, bad: int = 0):
    events, _ = FraudGenerator(seed=5).batch(n)
    values = [orjson.dumps(e) for e in events] + [b"not json"] * bad
    messages = [Message(topic="in", partition=0, offset=i, key=(events[i]["card_id"] if i < n else f"bad{i}").encode(),
                        value=v, timestamp=(1, int(time.time() * 1000))) for i, v in enumerate(values)]
    builder = BatchBuilder(EventDecoder(SchemaRegistry(TopicCatalog.load()).validator("fraud.transactions")),
                           PLUGIN, 10_000, 60.0)
    return builder.build(1, 0, messages, time.time()), events


def answer(batch, score_of=lambda part: 0.25) -> None:
    """Score every part as Triton would: version-specific constant scores."""
    for part in batch.parts:
        part.outputs = {"score": np.full((part.inputs.rows, 1), score_of(part), np.float32)}
        part.served_version = part.version
        part.done = True


def test_without_an_active_plan_the_batch_is_one_request_to_the_champion():
    assigner = PartAssigner(PLUGIN, "", CandidateHealth(3, 10))
    batch, _ = batch_of(50)
    assigner.assign(batch, None)
    assert [(p.role, p.version, len(p.positions)) for p in batch.parts] == [("champion", "", 50)]
    assert batch.parts[0].inputs is batch.inputs  # nothing re-encoded
    assigner.assign(batch, plan(RolloutMode.NONE, state=RolloutState.STEADY))
    assert [(p.role, p.version) for p in batch.parts] == [("champion", "1")]


def test_a_canary_sends_exactly_the_keys_in_its_slice_and_records_name_their_version():
    assigner = PartAssigner(PLUGIN, "", CandidateHealth(3, 10))
    canary = plan(RolloutMode.CANARY, weight=30)
    batch, events = batch_of(400, bad=2)
    assigner.assign(batch, canary)
    roles = {p.role: p for p in batch.parts}
    assert set(roles) == {"champion", "candidate"}
    in_slice = {i for i, e in enumerate(events) if key_bucket(e["card_id"], canary.plan_id) < 0.3 * BUCKETS}
    assert set(roles["candidate"].positions) == in_slice and roles["candidate"].version == "2"
    assert sorted(roles["champion"].positions + roles["candidate"].positions) == list(range(400))
    assert roles["candidate"].inputs.rows == len(in_slice)

    answer(batch, lambda part: 0.9 if part.version == "2" else 0.1)
    records, _, dead = batch_records(batch, CONTEXT)
    assert [r.topic for r in records[:400]] == ["fraud.scores"] * 400 and dead == {"not_json": 2}
    for i, record in enumerate(records[:400]):
        value = orjson.loads(record.value)
        assert value["event_id"] == events[i]["event_id"]  # input order kept across the parts
        assert value["model"]["version"] == ("2" if i in in_slice else "1")
        assert abs(value["score"] - (0.9 if i in in_slice else 0.1)) < 1e-6


def test_shadow_mirrors_the_champion_tensors_to_the_mirror_topic_only():
    assigner = PartAssigner(PLUGIN, "", CandidateHealth(3, 10))
    batch, events = batch_of(100)
    assigner.assign(batch, plan(RolloutMode.SHADOW, mirror_rate=1.0))
    assert [(p.role, p.version) for p in batch.parts] == [("champion", "1"), ("mirror", "2")]
    assert batch.parts[1].inputs is batch.parts[0].inputs
    answer(batch, lambda part: 0.7 if part.version == "2" else 0.2)
    records, _, _ = batch_records(batch, CONTEXT)
    main = [orjson.loads(r.value) for r in records if r.topic == "fraud.scores"]
    mirror = [orjson.loads(r.value) for r in records if r.topic == "fraud.mirror"]
    assert len(main) == len(mirror) == 100
    assert {m["model"]["version"] for m in main} == {"1"} and {m["model"]["version"] for m in mirror} == {"2"}

    collector = RolloutCollector("fraud", "w0", "fraud.rollout", "score", interval_s=0.0)
    collector.observe_published(batch)
    assert collector.stats.mirror.pairs == 100 and abs(collector.stats.mirror.mean_abs_diff - 0.5) < 1e-6
    assert collector.stats.champion.events == 100 and collector.stats.candidate.events == 0
    report = collector.due_reports()
    assert len(report) == 1 and report[0].key.startswith(b"report/fraud-2-test/0/w0/")


def test_a_benched_candidate_gets_nothing_and_its_keys_count_as_fallbacks():
    health = CandidateHealth(failures_to_bench=2, bench_s=60)
    assigner = PartAssigner(PLUGIN, "", health)
    canary = plan(RolloutMode.CANARY, weight=50)
    batch, _ = batch_of(200)
    assigner.assign(batch, canary)
    assert not health.record(False) and health.record(False), "benched at the second failure in a row"
    benched, _ = batch_of(200)
    assigner.assign(benched, canary)
    assert [(p.role, len(p.positions)) for p in benched.parts] == [("champion", 200)]
    assert benched.benched == sum(len(p.positions) for p in batch.parts if p.role == "candidate") > 0
    answer(benched)
    collector = RolloutCollector("fraud", "w0", "fraud.rollout", "score", interval_s=0.0)
    collector.observe_published(benched)
    stats = collector.stats
    assert stats.candidate.fallbacks == stats.candidate.routed == benched.benched
    assert stats.champion.events == 200 and stats.champion.routed == 200 - benched.benched


def test_at_full_weight_the_champion_mirrors_a_sample_of_the_candidate():
    assigner = PartAssigner(PLUGIN, "", CandidateHealth(3, 10))
    full = plan(RolloutMode.GUARDED, weight=100, mirror_rate=0.5)
    batch, events = batch_of(300)
    assigner.assign(batch, full)
    roles = [(p.role, p.version) for p in batch.parts]
    assert roles == [("candidate", "2"), ("mirror", "1")]  # one request per version: rows sliced, not split
    assert batch.parts[0].positions == list(range(300))
    sampled = batch.parts[1].positions
    assert 0.3 < len(sampled) / 300 < 0.7 and list(batch.parts[1].reference_rows) == sampled
    answer(batch, lambda part: 0.6 if part.version == "2" else 0.1)
    records, _, _ = batch_records(batch, CONTEXT)
    assert {orjson.loads(r.value)["model"]["version"] for r in records if r.topic == "fraud.scores"} == {"2"}
    collector = RolloutCollector("fraud", "w0", "fraud.rollout", "score", interval_s=0.0)
    collector.observe_published(batch)
    mirror = collector.stats.mirror
    assert mirror.pairs == len(sampled)
    # the champion's scores stay on the champion's side of the comparison
    assert mirror.champion_hist[2] == len(sampled) and mirror.candidate_hist[12] == len(sampled)


def test_a_multi_row_plugin_is_split_and_encoded_per_part():
    """recs: each request is several rows with a layout, so parts are encoded on their own and a
    mirror part is compared with a champion request over exactly the same rows."""
    import itertools

    from models.recs.pipeline import RecsPipeline

    recs = RecsPipeline()
    events = list(itertools.islice(recs.synthetic_events(3), 120))
    messages = [Message(topic="in", partition=0, offset=i, key=e["user_id"].encode(), value=orjson.dumps(e),
                        timestamp=(1, int(time.time() * 1000))) for i, e in enumerate(events)]
    builder = BatchBuilder(EventDecoder(SchemaRegistry(TopicCatalog.load()).validator("recs.requests")), recs,
                           10_000, 60.0)
    batch = builder.build(1, 0, messages, time.time())
    assigner = PartAssigner(recs, "", CandidateHealth(3, 10))
    assigner.assign(batch, plan(RolloutMode.GUARDED, weight=30, mirror_rate=0.5).model_copy(update={"pipeline": "recs"}))
    roles = [p.role for p in batch.parts]
    assert roles.count("mirror") == 1 and "candidate" in roles
    mirror = next(p for p in batch.parts if p.role == "mirror")
    reference = batch.parts[mirror.mirrors]
    assert reference.role == "champion" and reference.positions == mirror.positions
    assert reference.inputs is mirror.inputs
    assert sum(p.inputs.rows for p in batch.parts if p.role != "mirror") == batch.inputs.rows
    answer(batch)
    context = RecordContext("recs", "w0", "recs.ranked", "recs.dlq", "recs", recs, "recs.mirror")
    records, _, _ = batch_records(batch, context)
    ranked = [orjson.loads(r.value) for r in records if r.topic == "recs.ranked"]
    assert [r["request_id"] for r in ranked] == [e["request_id"] for e in events]
