"""The serve worker: consume → decode/validate → plugin tensors → micro-batch → Triton → publish, in order.

One thread drives Kafka; Triton results arrive from gRPC threads through a queue. Batches are
published strictly in the order they were cut, so every partition's outputs keep input order, and
offsets are committed only for records whose outputs were produced (and, exactly-once, committed
in the same transaction).
"""

from __future__ import annotations

import logging
import queue
import random
import signal
import threading
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from engine.batching.batch_builder import BatchBuilder
from engine.batching.micro_batch import MicroBatch
from engine.config.pipeline import DeliveryMode, PipelineSettings
from engine.errors import FencedError, ProducerStuckError
from engine.inference.circuit_breaker import BreakerState, CircuitBreaker
from engine.inference.triton_client import InferenceOutcome, TritonInferenceClient
from engine.ingest.kafka_clients import consumer_config, producer_config, transactional_id
from engine.metrics.serve_metrics import ServeMetrics
from engine.publish.records import RecordContext, batch_records
from engine.rollout.store import PlanWatcher
from engine.serve.delivery import AtLeastOnceDelivery, RewindRequired, TransactionalDelivery
from engine.serve.health_alerts import HotPathAlerts
from engine.serve.offsets import OffsetLedger
from engine.serve.rollout_side import WorkerRollout

log = logging.getLogger("streaminfer.serve")

#: Exit codes of ``serve`` besides 0 (drained) and 2 (bad configuration): restart the worker on either.
EXIT_FENCED = 3
EXIT_PRODUCER_STUCK = 4


class ServeWorker:
    """One member of the pipeline's consumer group.

    Args:
        settings: The pipeline.
        builder: Cuts and decodes micro-batches.
        inference: Triton client.
        instance: Stable worker id (part of the transactional.id).
        metrics: Prometheus metrics.
        stop_requested: Set by a signal handler to drain and exit (may already be set).
        alerts: Raises inference_down / error_rate / slo_breach (None: no alerts).
        plans: Follows the rollout plan (None: no rollouts; the configured version serves everything).
        default_version: The version served while no plan names a champion ('' = Triton's newest at
            each request; the factory pins the newest ready at start, so a candidate loaded later for a
            rollout never starts serving just because it is the newest).
    """

    def __init__(self, settings: PipelineSettings, builder: BatchBuilder, inference: TritonInferenceClient,
                 instance: str, metrics: ServeMetrics, stop_requested: threading.Event | None = None,
                 alerts: HotPathAlerts | None = None, plans: PlanWatcher | None = None,
                 default_version: str | None = None) -> None:
        self.settings = settings
        self.builder = builder
        self.inference = inference
        self.instance = instance
        self.metrics = metrics
        self.ledger = OffsetLedger()
        self.breaker = CircuitBreaker(settings.triton.breaker_failure_threshold,
                                      settings.triton.breaker_probe_interval_s)
        self.context = RecordContext(settings.name, instance, settings.topics.output,
                                     settings.topics.dead_letter, settings.triton.model_name, builder.plugin,
                                     settings.rollout.mirror_topic_for(settings.name))
        self.rollout = WorkerRollout(settings, instance, builder.plugin, metrics, plans,
                                     settings.triton.model_version if default_version is None else default_version)
        self._completions: queue.SimpleQueue[tuple[int, int, int, InferenceOutcome]] = queue.SimpleQueue()
        self._pending: dict[int, MicroBatch] = {}   # cut, not yet published, by seq
        self._in_flight: set[tuple[int, int]] = set()  # (batch seq, part index) awaiting Triton
        self._next_publish = 1
        self._epoch = 0
        self._paused = False
        self._fenced = False
        self._stopping = stop_requested or threading.Event()
        self.alerts = alerts
        self._last_lag = 0.0
        self.consumer: Consumer | None = None
        self.delivery: TransactionalDelivery | AtLeastOnceDelivery | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def request_stop(self, *_: object) -> None:
        """Ask the loop to drain and exit (SIGTERM/SIGINT handler)."""
        self._stopping.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT drain in-flight batches, commit and exit 0."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def run(self) -> int:
        """Run until stopped; returns the process exit code (0 after a clean drain)."""
        s = self.settings
        delivery_cls = TransactionalDelivery if s.kafka.delivery == DeliveryMode.EXACTLY_ONCE else AtLeastOnceDelivery
        self.delivery = delivery_cls(producer_config(s, self.instance), self.ledger,
                                     s.kafka.commit_interval_ms / 1000.0, self.metrics)
        self.rollout.start()
        self.consumer = Consumer(consumer_config(s, self.instance))
        self.consumer.subscribe([s.topics.input], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        log.info("serving %s: %s → %s (%s), worker %s", s.name, s.topics.input, s.topics.output,
                 s.kafka.delivery.value, self.instance)
        try:
            while not self._stopping.is_set():
                self._step()
            self._drain(timeout_s=s.shutdown_timeout_s)
            self._commit(final=True)
            log.info("drained and committed; exiting")
            return 0
        except FencedError as exc:
            self._fenced = True  # closing the consumer runs on_revoke: it must not try to commit
            # librdkafka reports both causes as the same fatal _FENCED error, so name both: a newer
            # worker with this transactional.id took over (a zombie must die), or this worker stalled
            # past transaction.timeout.ms and the broker aborted its transaction and bumped the epoch.
            log.error("fenced, exiting without committing: %s — either another worker with transactional.id %s "
                      "took over, or this one stalled longer than kafka.transaction_timeout_ms (%d ms); a restart "
                      "resumes from the last commit", exc, transactional_id(s, self.instance),
                      s.kafka.transaction_timeout_ms)
            return EXIT_FENCED
        except ProducerStuckError as exc:
            self._fenced = True  # nothing may commit; the next owner starts from the last commit
            log.error("exiting: %s — the producer is wedged inside librdkafka; a restart resumes from the "
                      "last commit", exc)
            return EXIT_PRODUCER_STUCK
        finally:
            self._close()

    def _close(self) -> None:
        """Close every client; a failure to close is logged and never replaces the exit code (after a
        fencing librdkafka may fail in odd ways while closing — CI once saw its log callback raise
        AttributeError inside ``flush`` — and there is nothing left to save by then)."""
        if self.consumer is not None:
            self._close_quietly("consumer", self.consumer.close)
        # A fenced (or wedged) producer can commit nothing: flushing it only waits on a dead transaction.
        if self.delivery is not None and not self._fenced:
            self._close_quietly("producer", self.delivery.close)
        if self.alerts is not None:
            self._close_quietly("alerts", self.alerts.close)
        for what, close in self.rollout.closers():
            self._close_quietly(what, close)
        self._close_quietly("inference client", self.inference.close)

    @staticmethod
    def _close_quietly(what: str, close) -> None:
        try:
            close()
        except Exception as exc:  # noqa: BLE001 — see _close
            log.warning("%s close failed: %r", what, exc)

    # -- the loop ---------------------------------------------------------------------------
    def _step(self) -> None:
        self.rollout.current_plan(self.builder.last_seq)  # plan gauges stay true while idle
        self._probe_breaker()
        self._poll()
        self._dispatch()
        self._collect(timeout_s=0.0)
        self._publish_ready()
        if self.delivery.commit_due():
            self._commit()
        self._update_gauges()
        if self.alerts is not None:
            self.alerts.tick()
        self.rollout.raise_alerts(self.alerts)

    def _poll(self) -> None:
        consumer = self.consumer
        backlog = len(self.builder) + sum(len(b.messages) for b in self._pending.values())
        self.metrics.buffered.set(backlog)
        limit = self.settings.batching.max_rows * (self.settings.batching.max_in_flight + 2)
        if not self.breaker.allows_requests():
            self._set_paused(True, "breaker")
        else:
            self._set_paused(backlog >= limit, "backlog")
        if not self.breaker.allows_requests():
            timeout = 0.05  # Triton is down: keep the group membership alive, nothing else to do
        elif self._in_flight and (self._paused or self._batches_in_flight() >= self.settings.batching.max_in_flight):
            # Nothing useful to fetch: wait for Triton instead, but keep serving the group.
            self._collect(timeout_s=0.002)
            timeout = 0.0
        else:
            timeout = min(self.builder.time_to_deadline(), 0.002 if self._in_flight else 0.05)
        batch_size = self.settings.kafka.consume_batch
        if timeout > 0 and not len(self.builder) and batch_size > 1:
            # Idle: consume() would sit out its whole timeout unless a full batch arrived; poll()
            # wakes on the first record, then whatever else is already fetched comes along.
            first = consumer.poll(timeout)
            messages = [] if first is None else [first, *consumer.consume(batch_size - 1, 0)]
        else:
            messages = consumer.consume(batch_size, timeout)
        if not messages:
            return
        good = []
        for message in messages:
            if message.error() is None:
                good.append(message)
            else:
                log.warning("consume error: %s", message.error())
        self.metrics.events_in.inc(len(good))
        self.ledger.observe_consumed(good)
        self.builder.add(good)

    def _set_paused(self, paused: bool, reason: str) -> None:
        """Pause or resume the whole assignment; librdkafka keeps polling the group either way."""
        if paused == self._paused:
            return
        assignment = self.consumer.assignment()
        if paused:
            self.consumer.pause(assignment)
            self.metrics.paused_for(reason)
        else:
            self.consumer.resume(assignment)
        self._paused = paused
        self.metrics.paused.set(int(paused))

    def _dispatch(self) -> None:
        """Send retries (oldest first) and new batches while the breaker and in-flight cap allow."""
        cap = self.settings.batching.max_in_flight
        now = time.monotonic()
        for seq in sorted(self._pending):
            batch = self._pending[seq]
            for index, part in enumerate(batch.parts):
                if self._batches_in_flight() >= cap or not self.breaker.allows_requests():
                    return
                if part.attempts and not part.finished and (seq, index) not in self._in_flight and part.retry_at <= now:
                    self._submit(batch, index)
                    if self.breaker.state == BreakerState.HALF_OPEN:
                        return  # one trial request while half-open
        if self.breaker.state == BreakerState.HALF_OPEN and self._in_flight:
            return
        while self._batches_in_flight() < cap and self.breaker.allows_requests():
            force = self._stopping.is_set()
            batch = self.builder.cut(self._epoch, force=force)
            if batch is None:
                return
            self._pending[batch.seq] = batch
            # The batch boundary: the plan in force now routes this batch, whatever changes later.
            self.rollout.assign(batch, self.builder.last_seq)
            if batch.needs_inference:
                for index in range(len(batch.parts)):
                    self._submit(batch, index)
                if self.breaker.state == BreakerState.HALF_OPEN:
                    return  # one trial request while half-open
            else:
                batch.outputs = {}  # no rows: publishable at once

    def _batches_in_flight(self) -> int:
        """Batches with a Triton request outstanding: the cap is on batches, so a rollout's extra
        requests per batch (candidate, mirror) do not halve the pipelining."""
        return len({seq for seq, _ in self._in_flight})

    def _submit(self, batch: MicroBatch, index: int) -> None:
        part = batch.parts[index]
        part.attempts += 1
        self._in_flight.add((batch.seq, index))
        seq, epoch = batch.seq, batch.epoch
        trial = self.rollout.is_trial(batch, part)
        if part.role != "mirror":
            self.metrics.batch_rows.observe(part.inputs.rows)
        timeout = self.settings.rollout.candidate_timeout_s if trial else None
        self.inference.submit(part.inputs, lambda outcome: self._completions.put((seq, epoch, index, outcome)),
                              model_version=part.version, timeout_s=timeout)

    def _collect(self, timeout_s: float) -> None:
        """Apply every finished Triton request (waiting up to ``timeout_s`` for the first)."""
        try:
            item = self._completions.get(timeout=timeout_s) if timeout_s > 0 else self._completions.get_nowait()
        except queue.Empty:
            return
        while True:
            self._apply(*item)
            try:
                item = self._completions.get_nowait()
            except queue.Empty:
                return

    def _apply(self, seq: int, epoch: int, index: int, outcome: InferenceOutcome) -> None:
        if epoch != self._epoch:
            return  # the batch was dropped by a rewind; its records will be consumed again
        self._in_flight.discard((seq, index))
        batch = self._pending.get(seq)
        if batch is None:
            return
        part = batch.parts[index]
        ok = outcome.error is None
        trial = self.rollout.is_trial(batch, part)
        self.metrics.triton_latency.observe(outcome.latency_s)
        self.rollout.observe(batch, part, outcome, trial)
        if ok:
            part.outputs, part.served_version = outcome.outputs, outcome.model_version
            part.done = True
            if not trial:
                self.breaker.record_success()
            return
        if trial or part.role == "mirror":
            self.rollout.candidate_failed(batch, part, outcome, trial)
            return
        kind = "unavailable" if outcome.retriable else "model_error"
        self.metrics.inference_error(kind)
        if outcome.retriable:
            log.warning("triton request failed (batch %d, attempt %d): %s", seq, part.attempts, outcome.error)
        else:
            # A model fault is never the input's fault: no dead letters, loud logs, keep retrying.
            log.error("MODEL ERROR from %s version %s (batch %d, attempt %d): %s — input is kept, not dead-lettered",
                      self.settings.triton.model_name, part.version or "newest", seq, part.attempts, outcome.error)
        t = self.settings.triton
        backoff = min(t.retry_max_backoff_s, t.retry_initial_backoff_s * 2 ** (part.attempts - 1))
        part.retry_at = time.monotonic() + backoff * random.uniform(0.5, 1.0)  # jitter
        if self.breaker.record_failure():
            log.error("circuit breaker OPEN after %d failures: pausing partitions, probing /v2/health/ready",
                      self.breaker.consecutive_failures)
            if self.alerts is not None:
                self.alerts.breaker_opened(self.breaker.consecutive_failures, outcome.error)

    def _probe_breaker(self) -> None:
        if self.breaker.probe_due():
            ready = self.inference.server_ready(self.rollout.champion_version(self.builder.last_seq))
            self.breaker.record_probe(ready)
            if ready:
                log.warning("triton ready again: half-open, sending one trial batch")

    def _publish_ready(self) -> None:
        """Publish finished batches in cut order (a batch waiting on Triton holds back later ones)."""
        while True:
            batch = self._pending.get(self._next_publish)
            if batch is None or not batch.publishable:
                return
            records, latencies, dead = batch_records(batch, self.context)
            if batch.parts:
                batch.model_version = batch.parts[0].served_version
            try:
                self.delivery.publish(records, batch.next_positions())
            except RewindRequired as exc:
                self._rewind(f"publish failed: {exc}")
                return
            del self._pending[self._next_publish]
            self._next_publish += 1
            self.metrics.events_out.inc(len(batch.good_index))
            self.rollout.published(batch)
            for reason, count in dead.items():
                self.metrics.dead_letter(reason, count)
            self.metrics.end_to_end_latency.observe_many(latencies)
            if self.alerts is not None:
                self.alerts.observe_batch(len(batch.messages), dead, latencies, batch.model_version)
            self.metrics.engine_latency.observe(max(0.0, time.time() - batch.consumed_at))

    def _commit(self, final: bool = False) -> None:
        try:
            reports = self.rollout.due_reports(final)
            if reports:  # inside the open transaction: a report commits with the outputs it counts
                self.delivery.publish(reports, {})
            self.delivery.commit(self.consumer, final=final)
        except RewindRequired as exc:
            self._rewind(f"commit failed: {exc}")

    # -- failure and rebalance --------------------------------------------------------------
    def _rewind(self, why: str, partitions: list[TopicPartition] | None = None) -> None:
        """Drop everything not committed and seek back to the committed offsets."""
        log.warning("rewinding to committed offsets: %s", why)
        self.metrics.rewinds.inc()
        self.delivery.abort()
        self._discard_unpublished()
        self._seek_to_committed(self.consumer, partitions if partitions is not None else self.consumer.assignment())

    def _seek_to_committed(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in self.ledger.rewind_targets(partitions):
            try:
                consumer.seek(tp)
            except KafkaException as exc:
                log.error("seek %s[%d] to %d failed: %s", tp.topic, tp.partition, tp.offset, exc)

    def _discard_unpublished(self) -> None:
        self._epoch += 1
        self._pending.clear()
        self._in_flight.clear()
        self.builder.discard()
        self._next_publish = self.builder.last_seq + 1

    def _drain(self, timeout_s: float) -> None:
        """Finish what is in flight and publish it (bounded); used on revoke and shutdown."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._probe_breaker()
            self._dispatch()
            self._collect(timeout_s=0.005)
            self._publish_ready()
            if not self._pending and (not len(self.builder) or not self._stopping.is_set()):
                return

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", [f"{tp.topic}[{tp.partition}]" for tp in partitions])
        # Assign explicitly (cooperative: incremental) so the new partitions can be paused right
        # away when Triton is down; pausing before the library's own assignment would be a no-op.
        consumer.incremental_assign(partitions)
        if any(tp.partition == 0 for tp in partitions):
            self.rollout.leader = True
        if self._paused:
            consumer.pause(partitions)
        self.metrics.assigned_partitions.set(len(consumer.assignment()))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Cooperative revoke: commit what is done, then rewind the partitions we keep."""
        log.info("revoked %s", [f"{tp.topic}[{tp.partition}]" for tp in partitions])
        if self._fenced:
            return  # exiting after fencing: nothing may commit, the next owner starts from the last commit
        self._drain(timeout_s=5.0)
        self._commit(final=True)
        self._discard_unpublished()
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        kept = [tp for tp in consumer.assignment() if (tp.topic, tp.partition) not in revoked]
        self.rollout.leader = any(tp.partition == 0 for tp in kept)
        self.ledger.forget(partitions)
        self._seek_to_committed(consumer, kept)
        self.metrics.assigned_partitions.set(len(kept))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions lost (session expired): their outputs must not commit — abort and rewind."""
        log.warning("lost %s: aborting the open transaction and rewinding",
                    [f"{tp.topic}[{tp.partition}]" for tp in partitions])
        lost = {(tp.topic, tp.partition) for tp in partitions}
        kept = [tp for tp in consumer.assignment() if (tp.topic, tp.partition) not in lost]
        self.rollout.leader = any(tp.partition == 0 for tp in kept)
        self.metrics.rewinds.inc()
        self.delivery.abort()
        self._discard_unpublished()
        self.ledger.forget(partitions)
        self._seek_to_committed(consumer, kept)
        self.metrics.assigned_partitions.set(len(kept))

    def _update_gauges(self) -> None:
        self.metrics.in_flight.set(self._batches_in_flight())
        self.metrics.breaker_state.set(int(self.breaker.state))
        now = time.monotonic()
        if now - self._last_lag < 5.0:
            return
        self._last_lag = now
        try:
            for tp in self.consumer.position(self.consumer.assignment()):
                low, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if tp.offset >= 0 and high >= 0:
                    self.metrics.set_lag(tp.topic, tp.partition, max(0, high - tp.offset))
        except KafkaException:
            pass
