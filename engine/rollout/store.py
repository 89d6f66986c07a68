"""The plan topic: read the latest plan and the step reports, write a new generation, audit a decision.

``<pipeline>.rollout`` has one partition and is compacted. Key ``plan`` holds the plan (the first
record of each generation wins, see :mod:`engine.rollout.plan`); keys ``report/<plan>/<step>/<worker>/<run>``
hold each worker process's cumulative counts for one step, so summing the reports of a step gives the
whole group's counts even across restarts (a restarted worker starts a new ``run``).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from engine.errors import ConfigError, StackUnavailableError
from engine.ingest.kafka_clients import quiet_client
from engine.rollout.plan import PlanRecordError, RolloutPlan, now_ms, parse_plan
from engine.rollout.stats import StepStats

log = logging.getLogger("streaminfer.rollout")

PLAN_KEY = b"plan"
REPORT_PREFIX = "report/"


def report_key(plan_id: str, step: int, worker: str, run: str) -> bytes:
    """The compaction key of one worker process's report of one step."""
    return f"{REPORT_PREFIX}{plan_id}/{step}/{worker}/{run}".encode()


def report_value(pipeline: str, plan: RolloutPlan, worker: str, run: str, stats: StepStats) -> bytes:
    """A report record's value (schema: topics/schemas/rollout.v1.json)."""
    return orjson.dumps({"schema_version": 1, "kind": "report", "pipeline": pipeline, "plan_id": plan.plan_id,
                         "generation": plan.generation, "step": plan.step, "worker": worker, "run": run,
                         "at_ms": now_ms(), "stats": stats.to_json()})


@dataclass
class PlanLog:
    """What the plan topic says, built by applying its records in offset order.

    Attributes:
        plan: The latest plan (None before the first).
        reports: Report key → (plan_id, step, stats), the newest record of each key.
        skipped: Records that were neither a valid plan nor a valid report (logged, never applied).
        offset: The offset after the last record applied.
    """

    plan: RolloutPlan | None = None
    reports: dict[str, tuple[str, int, StepStats]] = field(default_factory=dict)
    skipped: int = 0
    offset: int = 0

    def apply(self, key: bytes | None, value: bytes | None, offset: int) -> bool:
        """Apply one record; True when it changed the plan."""
        self.offset = offset + 1
        if key == PLAN_KEY:
            try:
                plan = parse_plan(value)
            except PlanRecordError as exc:
                self.skipped += 1
                log.error("plan record at offset %d skipped: %s", offset, exc)
                return False
            if self.plan is not None and plan.generation <= self.plan.generation:
                return False  # a racing writer lost: the first record of a generation wins
            self.plan = plan
            return True
        text = (key or b"").decode("utf-8", "replace")
        if text.startswith(REPORT_PREFIX):
            if value is None:
                self.reports.pop(text, None)
                return False
            try:
                data = orjson.loads(value)
                self.reports[text] = (str(data["plan_id"]), int(data["step"]), StepStats.from_json(data["stats"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                self.skipped += 1
                log.error("report record at offset %d skipped: %s", offset, exc)
            return False
        self.skipped += 1
        log.error("record with unknown key %r at offset %d skipped", text[:80], offset)
        return False

    def step_stats(self, plan_id: str, step: int) -> StepStats:
        """Every worker's counts of one step, summed."""
        total = StepStats.empty()
        for report_plan, report_step, stats in self.reports.values():
            if report_plan == plan_id and report_step == step:
                total = total.merge(stats)
        return total

    def rollout_stats(self, plan_id: str) -> StepStats:
        """Every worker's counts of every step of one rollout, summed (the candidate's exposure)."""
        total = StepStats.empty()
        for report_plan, _, stats in self.reports.values():
            if report_plan == plan_id:
                total = total.merge(stats)
        return total


def _consumer(bootstrap: str, config: dict[str, Any] | None) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"streaminfer-plan-{secrets.token_hex(6)}",
                     "enable.auto.commit": False, "enable.auto.offset.store": False,
                     "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                     **quiet_client(), **(config or {})})


def read_plan_log(bootstrap: str, topic: str, timeout_s: float = 15.0,
                  config: dict[str, Any] | None = None) -> PlanLog:
    """Read the whole plan topic up to its end (as of now).

    Raises:
        ConfigError: The topic does not exist (``streaminfer topics apply`` creates it).
        StackUnavailableError: Kafka did not answer, or the end was not reached in ``timeout_s``.
    """
    consumer = _consumer(bootstrap, config)
    plan_log = PlanLog()
    try:
        try:
            end = _end_offset(consumer, bootstrap, topic, timeout_s)
            deadline = time.monotonic() + timeout_s
            if end > 0:
                consumer.assign([TopicPartition(topic, 0, 0)])
            # The end offset counts transaction markers; position() passes them, records do not.
            while end > 0 and _position(consumer, topic) < end:
                if time.monotonic() > deadline:
                    raise StackUnavailableError(f"reading {topic!r} did not reach offset {end} in {timeout_s:.0f} s")
                for message in consumer.consume(500, 0.2):
                    if message.error() is None:
                        plan_log.apply(message.key(), message.value(), message.offset())
        except KafkaException as exc:
            raise StackUnavailableError(f"Kafka at {bootstrap} did not serve {topic!r}: {exc}") from None
    finally:
        consumer.close()
    return plan_log


def _end_offset(consumer: Consumer, bootstrap: str, topic: str, timeout_s: float) -> int:
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise ConfigError(f"rollout topic {topic!r} does not exist on {bootstrap}; run `streaminfer topics apply`")
    if len(metadata.partitions) != 1:
        raise ConfigError(f"rollout topic {topic!r} has {len(metadata.partitions)} partitions; it needs exactly 1 "
                          "so that every worker sees plan changes in one order")
    return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout_s, cached=False)[1]


def _position(consumer: Consumer, topic: str) -> int:
    position = consumer.position([TopicPartition(topic, 0)])[0].offset
    return max(position, 0)


class PlanWatcher:
    """Follows the plan topic on a thread; the worker reads :attr:`plan` at every batch boundary.

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: The plan topic.
        config: Extra librdkafka properties (security).
    """

    def __init__(self, bootstrap: str, topic: str, config: dict[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._config = config
        self._log = PlanLog()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._settled = threading.Event()  # caught up, or found the topic unusable
        self._thread: threading.Thread | None = None
        self.plan: RolloutPlan | None = None
        self.error: str = ""
        self.unusable = False  # the topic is missing or has more than one partition: no rollouts

    def start(self, wait_s: float) -> bool:
        """Start following; wait up to ``wait_s`` for the records that exist now. True when caught up."""
        self._thread = threading.Thread(target=self._follow, name="rollout-plan", daemon=True)
        self._thread.start()
        self._settled.wait(wait_s)
        return self._caught_up.is_set()

    def snapshot(self) -> PlanLog:
        """A copy of what has been read (for analysis off the worker's thread)."""
        with self._lock:
            return PlanLog(self._log.plan, dict(self._log.reports), self._log.skipped, self._log.offset)

    def stop(self) -> None:
        """Stop following (bounded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow_once()
            except ConfigError as exc:
                self.error, self.unusable = str(exc), True
                self._settled.set()  # nothing to wait for: start() returns at once
                return
            except Exception as exc:  # noqa: BLE001 — keep the last plan and retry; serving goes on
                self.error = str(exc)
                log.warning("following %s failed (the last plan stays in force): %s", self.topic, exc)
                self._stop.wait(2.0)

    def _follow_once(self) -> None:
        consumer = _consumer(self.bootstrap, self._config)
        try:
            end = _end_offset(consumer, self.bootstrap, self.topic, 10.0)
            consumer.assign([TopicPartition(self.topic, 0, self._log.offset)])
            while not self._stop.is_set():
                changed = False
                for message in consumer.consume(500, 0.1):
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            log.warning("%s: %s", self.topic, error)
                        continue
                    with self._lock:
                        changed |= self._log.apply(message.key(), message.value(), message.offset())
                if changed:
                    plan = self._log.plan
                    log.info("rollout plan generation %d: champion %s, candidate %s, %s %s, weight %.2f%% (%s)",
                             plan.generation, plan.champion, plan.candidate or "-", plan.mode.value,
                             plan.state.value, plan.candidate_weight, plan.reason)
                    self.plan = plan
                if not self._caught_up.is_set() and _position(consumer, self.topic) >= end:
                    self.plan = self._log.plan
                    self._caught_up.set()
                    self._settled.set()
                self.error = ""
        finally:
            consumer.close()


class PlanWriter:
    """Writes plan generations and audit records (idempotent producer, acks=all, waits for each)."""

    def __init__(self, bootstrap: str, plan_topic: str, audit_topic: str, config: dict[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.plan_topic = plan_topic
        self.audit_topic = audit_topic
        self._config = config
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                   "linger.ms": 0, **quiet_client(), **(config or {})})

    def write(self, plan: RolloutPlan, timeout_s: float = 15.0) -> None:
        """Write ``plan``; raises when it is not acknowledged (see :meth:`write_checked` for the race)."""
        failures: list[str] = []

        def delivered(error, _message) -> None:
            if error is not None:
                failures.append(str(error))

        self._producer.produce(self.plan_topic, plan.to_bytes(), PLAN_KEY, on_delivery=delivered)
        left = self._producer.flush(timeout_s)
        if left or failures:
            raise StackUnavailableError(f"rollout plan not written to {self.plan_topic!r} on {self.bootstrap}: "
                                        f"{'; '.join(failures) or f'{left} records unacknowledged'}")

    def write_checked(self, plan: RolloutPlan, audit: dict[str, Any] | None, timeout_s: float = 15.0) -> RolloutPlan:
        """Write ``plan`` and read the topic back: the plan in force after it (ConfigError if a racing
        change took this generation first)."""
        self.write(plan, timeout_s)
        current = read_plan_log(self.bootstrap, self.plan_topic, timeout_s, self._config).plan
        if current is None or current.generation != plan.generation or current.plan_id != plan.plan_id \
                or current.updated_ms != plan.updated_ms:
            raise ConfigError(f"another change to {plan.pipeline!r}'s rollout won the race for generation "
                              f"{plan.generation}; run `streaminfer models status {plan.pipeline}` and retry")
        if audit is not None:
            self.write_audit(audit, plan.pipeline, timeout_s)
        return current

    def write_audit(self, audit: dict[str, Any], pipeline: str, timeout_s: float = 15.0) -> None:
        """Write one audit record."""
        failures: list[str] = []
        self._producer.produce(self.audit_topic, orjson.dumps(audit), pipeline.encode(),
                               on_delivery=lambda error, _m: failures.append(str(error)) if error else None)
        if self._producer.flush(timeout_s) or failures:
            raise StackUnavailableError(f"audit record not written to {self.audit_topic!r}: {'; '.join(failures)}")


def audit_record(plan: RolloutPlan, decision: str, analysis: dict[str, Any] | None = None,
                 exposure: StepStats | None = None) -> dict[str, Any]:
    """The ``rollouts`` record of one decision that produced ``plan`` (schema: topics/schemas/rollouts.v1.json)."""
    record: dict[str, Any] = {
        "schema_version": 1, "pipeline": plan.pipeline, "decision": decision, "at_ms": plan.updated_ms or now_ms(),
        "actor": plan.actor, "reason": plan.reason, "champion": plan.champion, "candidate": plan.candidate,
        "mode": plan.mode.value, "step": plan.step, "weight": plan.candidate_weight, "plan_id": plan.plan_id,
        "generation": plan.generation, "analysis": analysis, "exposure": None}
    if exposure is not None:
        record["exposure"] = {"events": exposure.candidate.events, "keys": exposure.keys_exposed,
                              "fallbacks": exposure.candidate.fallbacks, "since_ms": plan.started_ms}
    return record
