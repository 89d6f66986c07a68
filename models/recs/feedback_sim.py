"""Simulated users on the wire: ranking requests out, the rankings back, impressions and clicks out.

The simulator plays the feed service of the recs pipeline. It produces requests from
:class:`~models.recs.generator.RecsStream` to ``recs.requests``, reads what ``serve`` ranked for them
from ``recs.ranked`` (``read_committed``), and answers every shown item on ``recs.feedback``: a click
after its simulated delay, a non-click when the click window closes. Clicks follow the stream's
position-based model at the drift the request was generated at.

Pure parts (no Kafka): :class:`RequestSource` (requests with their drift), :class:`PendingRequests`
(bounded memory of what was asked), :class:`ClickSchedule` (feedback waiting for its time) and
:class:`SimulatedUsers` (matching rankings to requests). :class:`FeedbackSimulator` wires them to a
producer and a :class:`RankedReader`.
"""

from __future__ import annotations

import heapq
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from engine.errors import StreaminferError
from engine.generate.stream import DeliveryTally
from engine.ingest.kafka_clients import quiet_client
from engine.publish.producer import produce_all
from engine.publish.records import OutputRecord
from models.recs.generator import RecsStream
from models.recs.pipeline import RecsPipeline

#: The click window RecsStream simulates delays in (its default); wall time is this, scaled.
SIMULATED_WINDOW_MS: Final[int] = 30_000


class SimulatorError(StreaminferError):
    """The feedback simulator cannot run (a topic is missing, the ranked topic is unreadable)."""


@dataclass(frozen=True)
class FeedbackOptions:
    """One simulator run.

    Attributes:
        count: Requests to produce.
        seed: Seed of the world and the requests (same seed → the requests ``generate recs`` makes).
        rate: Requests per second; 0 = as fast as possible.
        drift: Drift level at the start.
        drift_to: Drift level from ``drift_at`` of the run on (None: unchanged).
        drift_at: Fraction of ``count`` after which ``drift_to`` applies.
        click_window_s: Wall-clock click window; the stream's 30 s of simulated delays are scaled into it.
        wait_s: After the last request, stop waiting for rankings once none of ours came for this long.
        deadline_s: Hard cap on the whole run (None: the phases above bound it).
        max_pending: Requests remembered while their ranking is owed; the oldest are forgotten beyond.
        chunk: Requests per produce call (paced runs use smaller chunks).
        start_ms: Request-time origin of the stream (None: RecsStream's fixed, deterministic default).
        stream_rate: Requests per second of the stream's own clock (``request_time``); None: RecsStream's
            default (50/s). Set it to ``rate`` and request times follow the wall clock from ``start_ms``.
        request_id_prefix: Put before every request id: runs on the same seed and topics (the demo runs the
            champion's own world every time) then never share an id, which the learner's join and this
            simulator's matching both key on.
    """

    count: int = 10_000
    seed: int = 7
    rate: float = 0.0
    drift: float = 0.0
    drift_to: float | None = None
    drift_at: float = 0.5
    click_window_s: float = 30.0
    wait_s: float = 30.0
    deadline_s: float | None = None
    max_pending: int = 100_000
    chunk: int = 200
    start_ms: int | None = None
    stream_rate: float | None = None
    request_id_prefix: str = ""
    requests_topic: str = "recs.requests"
    ranked_topic: str = "recs.ranked"
    feedback_topic: str = "recs.feedback"

    def __post_init__(self) -> None:
        if self.click_window_s <= 0 or self.max_pending < 1 or self.count < 0 or self.chunk < 1:
            raise ValueError("click_window_s and max_pending must be positive, count and chunk valid")


@dataclass
class FeedbackReport(DeliveryTally):
    """What a run did (and, inherited, what the broker acknowledged of requests and feedback)."""

    requests: int = 0        # requests produced
    ranked: int = 0          # rankings matched to a request of this run
    unmatched: int = 0       # rankings of requests this run never produced, forgot, or already answered
    forgotten: int = 0       # requests dropped from memory (max_pending) before their ranking came
    unanswered: int = 0      # requests still without a ranking when the run stopped waiting
    impressions: int = 0     # shown items (one feedback record owed each)
    clicks: int = 0
    feedback: int = 0        # feedback records handed to the producer
    abandoned: int = 0       # feedback still owed when the deadline stopped the run
    ended_by: str = ""       # "complete", "wait" (rankings missing) or "deadline"
    max_late_ms: int = 0     # worst delay between a record's feedback_time and its produce call
    seconds: float = 0.0
    by_position: dict[int, list[int]] = field(default_factory=dict)  # position → [impressions, clicks]

    @property
    def ctr(self) -> float:
        """Clicks per impression over the run."""
        return self.clicks / self.impressions if self.impressions else 0.0

    def ctr_at(self, position: int) -> float:
        """Clicks per impression at one position (1 = first slot)."""
        shown, clicked = self.by_position.get(position, (0, 0))
        return clicked / shown if shown else 0.0

    def summary(self) -> str:
        """One line for the CLI."""
        return (f"{self.requests} requests, {self.ranked} ranked ({self.unmatched} unmatched, {self.forgotten} "
                f"forgotten, {self.unanswered} unanswered), {self.impressions} impressions, {self.clicks} clicks "
                f"(CTR {self.ctr:.1%}; @1 {self.ctr_at(1):.1%}, @5 {self.ctr_at(5):.1%}, @10 {self.ctr_at(10):.1%}),"
                f" {self.feedback} feedback records (at most {self.max_late_ms} ms late) in {self.seconds:.1f}s,"
                f" ended by {self.ended_by}")


class RequestSource:
    """The run's requests in chunks, each with the drift level it was generated at.

    A chunk never straddles the drift switch, so every request's drift is known exactly.
    """

    def __init__(self, options: FeedbackOptions) -> None:
        clock = {} if options.stream_rate is None else {"requests_per_second": options.stream_rate}
        self._stream = RecsStream(seed=options.seed, drift=options.drift, start_ms=options.start_ms, **clock)
        self._count = options.count
        self._switch = options.count if options.drift_to is None else round(options.count * options.drift_at)
        self._drift_to = options.drift_to
        self._prefix = options.request_id_prefix
        self.produced = 0

    def next_chunk(self, limit: int) -> tuple[list[dict[str, Any]], float]:
        """Up to ``limit`` next requests and their drift level; empty once ``count`` were taken."""
        if self.produced >= self._switch and self._drift_to is not None and self._stream.drift != self._drift_to:
            self._stream.set_drift(self._drift_to)
        end = self._switch if self.produced < self._switch else self._count
        n = max(0, min(limit, end - self.produced))
        requests = list(self._stream.requests(n))  # a list: set_drift must not touch a chunk in flight
        if self._prefix:
            for request in requests:
                request["request_id"] = self._prefix + request["request_id"]
        self.produced += n
        return requests, self._stream.drift


class PendingRequests:
    """Requests produced and not ranked yet, oldest first, with their drift; at most ``limit``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._requests: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()
        self.forgotten = 0

    def __len__(self) -> int:
        return len(self._requests)

    def remember(self, request: dict[str, Any], drift: float) -> None:
        """Keep ``request`` until its ranking comes; forgets the oldest when full."""
        self._requests[request["request_id"]] = (request, drift)
        if len(self._requests) > self._limit:
            self._requests.popitem(last=False)
            self.forgotten += 1

    def take(self, request_id: str) -> tuple[dict[str, Any], float] | None:
        """The request and its drift, removed (a second ranking for it is unmatched); None if unknown."""
        return self._requests.pop(request_id, None)


class ClickSchedule:
    """Feedback records waiting for their wall-clock time, earliest first.

    Clicks come from :meth:`RecsStream.feedback` of a stream kept only for that (same seed and world
    as the requests); its drift is set per request. Its delays (30 s window) are scaled to
    ``click_window_ms`` of wall time, non-clicks landing exactly when the window closes.
    """

    def __init__(self, seed: int, click_window_ms: int, start_ms: int | None = None) -> None:
        self._stream = RecsStream(seed=seed, start_ms=start_ms, click_window_ms=SIMULATED_WINDOW_MS)
        self._scale = click_window_ms / SIMULATED_WINDOW_MS
        self._due: list[tuple[int, int, bytes, dict[str, Any]]] = []
        self._sequence = 0  # ties in due time keep position order

    def __len__(self) -> int:
        return len(self._due)

    @property
    def next_due_ms(self) -> float:
        """When the earliest record is due (infinity when none is owed)."""
        return self._due[0][0] if self._due else math.inf

    def schedule(self, request: dict[str, Any], drift: float, item_ids: list[str], shown_ms: int,
                 key: bytes) -> list[dict[str, Any]]:
        """Clicks of ``request``'s user on ``item_ids`` (rank order) shown at ``shown_ms``; returns the records."""
        self._stream.set_drift(drift)  # never generates: this stream only answers feedback()
        records = self._stream.feedback(request, item_ids, shown_ms)
        for record in records:
            record["feedback_time"] = shown_ms + round((record["feedback_time"] - shown_ms) * self._scale)
            heapq.heappush(self._due, (record["feedback_time"], self._sequence, key, record))
            self._sequence += 1
        return records

    def due(self, now_ms: float) -> list[tuple[bytes, dict[str, Any]]]:
        """(key, record) of every record due by ``now_ms``, removed, in due order."""
        out = []
        while self._due and self._due[0][0] <= now_ms:
            _, _, key, record = heapq.heappop(self._due)
            out.append((key, record))
        return out


class SimulatedUsers:
    """Matches rankings to the requests of this run and schedules their users' feedback (no Kafka).

    Args:
        options: The run (seed, click window, memory bound).
        report: Where the counts go.
    """

    def __init__(self, options: FeedbackOptions, report: FeedbackReport) -> None:
        self._plugin = RecsPipeline()
        self._pending = PendingRequests(options.max_pending)
        self._schedule = ClickSchedule(options.seed, round(options.click_window_s * 1000), options.start_ms)
        self._report = report

    @property
    def pending(self) -> int:
        """Requests whose ranking is still owed."""
        return len(self._pending)

    @property
    def owed(self) -> int:
        """Feedback records scheduled and not released yet."""
        return len(self._schedule)

    @property
    def next_due_ms(self) -> float:
        """When the next feedback record is due (infinity when none is)."""
        return self._schedule.next_due_ms

    def key(self, request: dict[str, Any]) -> bytes:
        """The Kafka key of a request and of its feedback: the plugin's entity (user id)."""
        return self._plugin.entity_key(request).encode()

    def remember(self, request: dict[str, Any], drift: float) -> None:
        """Note a request about to be produced, generated at ``drift``."""
        self._pending.remember(request, drift)
        self._report.forgotten = self._pending.forgotten

    def on_ranked(self, ranked: dict[str, Any], arrived_ms: int) -> bool:
        """A ranked list arrived at ``arrived_ms`` (its impression time); False if it is not ours."""
        items = ranked.get("items")
        found = self._pending.take(str(ranked.get("request_id"))) if isinstance(items, list) else None
        if found is None:
            self._report.unmatched += 1
            return False
        request, drift = found
        items = sorted(items, key=lambda item: item["rank"])  # shown in rank order: position = rank
        records = self._schedule.schedule(request, drift, [item["item_id"] for item in items], arrived_ms,
                                          self.key(request))
        report = self._report
        report.ranked += 1
        report.impressions += len(records)
        for record in records:
            counts = report.by_position.setdefault(record["position"], [0, 0])
            counts[0] += 1
            counts[1] += record["clicked"]
            report.clicks += record["clicked"]
        return True

    def due(self, now_ms: float) -> list[tuple[bytes, dict[str, Any]]]:
        """(key, record) of the feedback due by ``now_ms``."""
        return self._schedule.due(now_ms)


class RankedReader:
    """``read_committed`` reader of every partition of the ranked topic, from its end at construction.

    The end offsets are taken when the reader is made, before the run's first request, so it sees
    rankings published from then on only. They are high watermarks (read_uncommitted query): a
    transaction open at that moment cannot hold a ranking of this run.
    """

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 10.0) -> None:
        common = {"bootstrap.servers": bootstrap, "enable.auto.commit": False, **quiet_client()}
        probe = Consumer({**common, "group.id": f"feedback-sim-probe-{uuid.uuid4().hex[:10]}",
                          "isolation.level": "read_uncommitted"})
        try:
            described = probe.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                reason = described.error if described is not None else "unknown"
                raise SimulatorError(f"cannot read {topic!r} ({reason}); create it (streaminfer topics apply)")
            start = [TopicPartition(topic, p, probe.get_watermark_offsets(TopicPartition(topic, p),
                                                                          timeout=timeout_s)[1])
                     for p in sorted(described.partitions)]
        finally:
            probe.close()
        self._consumer = Consumer({**common, "group.id": f"feedback-sim-{uuid.uuid4().hex[:10]}",
                                   "isolation.level": "read_committed"})
        self._consumer.assign(start)

    def poll(self, timeout_s: float) -> list[bytes]:
        """Values of the ranked records that arrived within ``timeout_s``."""
        values = []
        # Small batches: ~1 ms of click simulation per ranking, and due feedback waits while they run.
        for message in self._consumer.consume(100, max(0.0, timeout_s)):
            error = message.error()
            if error is None:
                values.append(message.value())
            elif error.fatal() or error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                raise SimulatorError(f"reading rankings failed: {error}")
        return values

    def close(self) -> None:
        """Leave (nothing is committed: the reader has no group offsets)."""
        self._consumer.close()


class FeedbackSimulator:
    """Runs the loop: produce requests, read their rankings, release feedback when due, then stop.

    Phases: produce ``count`` requests (paced at ``rate``); wait for the rankings still owed until none
    of ours came for ``wait_s``; release the feedback still owed at its time. ``deadline_s`` caps it all.
    Single-threaded on purpose: every request is remembered before it is produced, so its ranking can
    never be read first.

    Args:
        bootstrap: Kafka bootstrap servers.
        options: The run.
        producer, reader: Injected clients (tests); by default an idempotent producer and a
            :class:`RankedReader` made at the start of :meth:`run`.
        clock, sleep: Wall-clock seconds and a sleep (tests pass fakes).
    """

    def __init__(self, bootstrap: str, options: FeedbackOptions, *, producer: Any = None, reader: Any = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.options = options
        self.report = FeedbackReport()
        # Like the generators: idempotent with acks=all; a record given up counts as failed, never silent.
        self._producer = producer or Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                                               "acks": "all", "linger.ms": 5, "compression.type": "lz4",
                                               **quiet_client()})
        self._bootstrap = bootstrap
        self._reader = reader
        self._clock, self._sleep = clock, sleep
        self._users = SimulatedUsers(options, self.report)

    def run(self) -> FeedbackReport:
        """Run to the end; returns the report (``complete`` False if the broker did not acknowledge all)."""
        report, started = self.report, self._clock()
        deadline = math.inf if self.options.deadline_s is None else started + self.options.deadline_s
        reader = self._reader or RankedReader(self._bootstrap, self.options.ranked_topic)  # before any request
        try:
            if self._produce_requests(reader, started, deadline) and self._await_rankings(reader, deadline):
                self._release_owed(deadline)
            report.unanswered = self._users.pending
            report.abandoned = self._users.owed
            report.ended_by = report.ended_by or "complete"
        finally:
            if self._reader is None:
                reader.close()
            report.unacknowledged = self._producer.flush(120)
            report.seconds = self._clock() - started
        return report

    def _produce_requests(self, reader: Any, started: float, deadline: float) -> bool:
        source, options = RequestSource(self.options), self.options
        chunk = options.chunk if options.rate <= 0 else max(1, min(options.chunk, int(options.rate / 200)))
        while True:
            if self._clock() >= deadline:
                self.report.ended_by = "deadline"
                return False
            requests, drift = source.next_chunk(chunk)
            if not requests:
                return True
            records = []
            for request in requests:
                self._users.remember(request, drift)
                records.append(OutputRecord(options.requests_topic, self._users.key(request), orjson.dumps(request)))
            produce_all(self._producer, records, self.report.on_delivery)
            self.report.requests += len(records)
            due = started + source.produced / options.rate if options.rate > 0 else self._clock()
            self._serve(reader, min(due, deadline))

    def _await_rankings(self, reader: Any, deadline: float) -> bool:
        last_ours = self._clock()
        while self._users.pending:
            now = self._clock()
            if now >= deadline:
                self.report.ended_by = "deadline"
                return False
            if now - last_ours >= self.options.wait_s:
                self.report.ended_by = "wait"
                return True  # the feedback of what did come is still owed
            if self._serve(reader, min(now + 0.1, deadline)):
                last_ours = self._clock()
        return True

    def _release_owed(self, deadline: float) -> None:
        # Rankings arriving from now on are not read: the run answers those received while waiting.
        while self._users.owed:
            now = self._clock()
            if now >= deadline:
                self.report.ended_by = "deadline"
                return
            self._sleep(max(0.0, min(self._users.next_due_ms / 1000, deadline) - now))
            self._release(self._clock())

    def _serve(self, reader: Any, until: float) -> int:
        """Read rankings and release due feedback until ``until`` (at least one poll); returns matches."""
        matched = 0
        while True:
            now = self._clock()
            timeout = max(0.0, min(until, self._users.next_due_ms / 1000, now + 0.05) - now)
            values = reader.poll(timeout)
            arrived_ms = int(self._clock() * 1000)  # the impression: when the ranked list reached the user
            for value in values:
                try:
                    ranked = orjson.loads(value)
                except orjson.JSONDecodeError:
                    self.report.unmatched += 1
                    continue
                matched += self._users.on_ranked(ranked, arrived_ms)
            self._release(self._clock())
            if self._clock() >= until:
                return matched

    def _release(self, now: float) -> None:
        due = self._users.due(now * 1000)
        if due:
            late = round(now * 1000) - min(record["feedback_time"] for _, record in due)
            self.report.max_late_ms = max(self.report.max_late_ms, late)
            topic = self.options.feedback_topic
            produce_all(self._producer, [OutputRecord(topic, key, orjson.dumps(record)) for key, record in due],
                        self.report.on_delivery)
            self.report.feedback += len(due)
        else:
            self._producer.poll(0)  # serve delivery reports while idle
