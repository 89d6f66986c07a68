"""How outputs and offsets reach Kafka: exactly-once (transactions) or at-least-once (idempotent
producer, offsets stored only after every output of a batch was acknowledged)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from engine.errors import FencedError, ProducerStuckError
from engine.publish.producer import produce_all
from engine.publish.records import OutputRecord
from engine.serve.offsets import OffsetLedger

log = logging.getLogger("streaminfer.serve")


#: Timeout of each send_offsets / commit / abort call. They take milliseconds when the broker is up; a
#: call that times out is retried (retriable) or aborts the transaction, and one that overruns this
#: plus BoundedCalls.grace_s is a wedged producer (exit 4): 15 s without progress at most.
CALL_TIMEOUT_S = 10.0

#: Errors that mean a newer producer owns this transactional.id (or the broker bumped the epoch).
_FENCING_CODES = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)


def _is_fencing(error: KafkaError) -> bool:
    """True when the producer can never commit again (fatal, fenced or a bumped epoch)."""
    return error.fatal() or error.code() in _FENCING_CODES


class RewindRequired(Exception):
    """The uncommitted outputs were dropped; the worker must rewind to committed offsets."""


_SLICE_S = 0.5


class BoundedCalls:
    """Runs blocking librdkafka calls on one daemon thread and waits at most a deadline for each.

    librdkafka's transactional calls take a timeout, but some ignore it (librdkafka #5456): after a
    broker restart ``send_offsets_to_transaction(…, 30)`` was seen blocking for minutes. A call that
    overruns its deadline raises :class:`ProducerStuckError`; the thread stays behind in the C call,
    which is why it is a daemon and why the worker then exits instead of carrying on.
    """

    def __init__(self, grace_s: float = 5.0) -> None:
        self.grace_s = grace_s
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="librdkafka-calls", daemon=True)
        self._thread.start()
        self.stuck = False

    def _serve(self) -> None:
        while True:
            call, done, outcome = self._requests.get()
            try:
                outcome.append((True, call()))
            except BaseException as exc:  # noqa: BLE001 — handed back to the caller's thread
                outcome.append((False, exc))
            done.set()

    def run(self, call, timeout_s: float, what: str):
        """Run ``call()`` (which itself times out after ``timeout_s``); re-raise what it raised."""
        if self.stuck:
            raise ProducerStuckError(f"{what}: the producer is stuck in an earlier call")
        done, outcome = threading.Event(), []
        self._requests.put((call, done, outcome))
        # Count only time this process ran: a worker frozen by SIGSTOP (or a VM pause) while waiting
        # must not call the producer wedged the moment it wakes. A slice that took far longer than
        # asked was spent stopped, and counts as one slice.
        budget, waited = timeout_s + self.grace_s, 0.0
        while not done.is_set():
            started = time.monotonic()
            done.wait(_SLICE_S)
            waited += min(time.monotonic() - started, 2 * _SLICE_S)
            if waited >= budget and not done.is_set():
                self.stuck = True
                raise ProducerStuckError(f"{what} did not return within {budget:.0f} s "
                                         f"(its own timeout is {timeout_s:.0f} s)")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value


class TransactionalDelivery:
    """Exactly-once: outputs and input offsets commit atomically in one Kafka transaction.

    A transaction begins lazily with the first output and commits every ``commit_interval_s``;
    abortable errors abort it and ask for a rewind, fencing (a newer instance with the same
    transactional.id) is fatal.
    """

    def __init__(self, producer_config: dict, ledger: OffsetLedger, commit_interval_s: float, metrics) -> None:
        self.producer = Producer(producer_config)
        self.ledger = ledger
        self.commit_interval_s = commit_interval_s
        self.metrics = metrics
        self._in_transaction = False
        self._last_commit = time.monotonic()
        self._calls = BoundedCalls()
        self._call(lambda: self._calls.run(lambda: self.producer.init_transactions(30), 30, "init_transactions"))

    def publish(self, records: list[OutputRecord], positions: dict) -> None:
        """Produce a batch's outputs inside the open transaction (opening one if needed)."""
        if not self._in_transaction:
            self._call(self.producer.begin_transaction)
            self._in_transaction = True
        try:
            full = produce_all(self.producer, records)
        except KafkaException as exc:
            # produce() refuses records once the transaction failed: _STATE after an earlier record
            # failed delivery (abort and rewind), _FATAL / _FENCED after fencing (exit).
            error: KafkaError = exc.args[0]
            if _is_fencing(error) or error.code() == KafkaError._FATAL:
                raise FencedError(f"producer fenced: {error.str()}") from None
            log.warning("produce refused, aborting the transaction: %s", error.str())
            self.abort()
            raise RewindRequired(error.str()) from None
        if full:
            self.metrics.producer_queue_full.inc()
        self.ledger.published(positions)

    def commit_due(self) -> bool:
        """True when a transaction is open and the commit interval has passed."""
        return self._in_transaction and time.monotonic() - self._last_commit >= self.commit_interval_s

    def commit(self, consumer: Consumer, final: bool = False) -> None:
        """Send the published offsets to the transaction and commit it (``final`` changes nothing here)."""
        self._last_commit = time.monotonic()
        if not self._in_transaction:
            return
        offsets = self.ledger.to_commit()
        try:
            if offsets:
                metadata = consumer.consumer_group_metadata()
                self._retrying(lambda: self._calls.run(
                    lambda: self.producer.send_offsets_to_transaction(offsets, metadata, CALL_TIMEOUT_S),
                    CALL_TIMEOUT_S, "send_offsets_to_transaction"))
            self._retrying(lambda: self._calls.run(lambda: self.producer.commit_transaction(CALL_TIMEOUT_S),
                                                   CALL_TIMEOUT_S, "commit_transaction"))
        except RewindRequired:
            self.abort()
            raise
        self._in_transaction = False
        self.ledger.mark_committed()
        self.metrics.transaction("committed")

    def abort(self) -> None:
        """Abort the open transaction (if any) and forget its outputs (FencedError when the producer is
        fenced: nothing of it can commit any more, which is what an abort wants)."""
        if self._in_transaction:
            try:
                self._abort_retrying()
            finally:
                self._in_transaction = False
                self.ledger.drop_pending()
                self.metrics.transaction("aborted")
        self.ledger.drop_pending()

    def close(self) -> None:
        """Flush what is left (nothing after a commit); a fenced producer has nothing left to flush."""
        if self._calls.stuck:
            return  # a thread is inside librdkafka: touching the producer again could block forever
        try:
            self.producer.flush(10)
        except KafkaException as exc:
            log.warning("producer close: %s", exc.args[0].str())

    def poll(self) -> None:
        """Serve delivery callbacks."""
        self.producer.poll(0)

    # -- error policy -------------------------------------------------------------------
    def _abort_retrying(self) -> None:
        for attempt in range(5):
            try:
                self._calls.run(lambda: self.producer.abort_transaction(CALL_TIMEOUT_S), CALL_TIMEOUT_S,
                                "abort_transaction")
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if _is_fencing(error):
                    raise FencedError(f"producer fenced: {error.str()}") from None
                if not error.retriable() or attempt == 4:
                    raise
                time.sleep(0.1 * 2**attempt)

    def _retrying(self, call) -> None:
        for attempt in range(5):
            try:
                call()
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if _is_fencing(error):
                    raise FencedError(f"producer fenced: {error.str()}") from None
                if error.txn_requires_abort():
                    log.warning("transaction must abort: %s", error.str())
                    raise RewindRequired(error.str()) from None
                if error.retriable() and attempt < 4:
                    log.warning("transaction call failed, retrying (attempt %d): %s", attempt + 1, error.str())
                    time.sleep(0.1 * 2**attempt)
                    continue
                raise RewindRequired(error.str()) from None

    def _call(self, call) -> None:
        try:
            call()
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal():
                raise FencedError(f"producer fenced: {error.str()}") from None
            raise


@dataclass(eq=False)
class _Acks:
    remaining: int
    positions: dict
    failed: str = ""


class AtLeastOnceDelivery:
    """At-least-once: idempotent producer; a batch's offsets are stored only once every one of its
    outputs is acknowledged, in batch order; the consumer auto-commits stored offsets."""

    def __init__(self, producer_config: dict, ledger: OffsetLedger, commit_interval_s: float, metrics) -> None:
        self.producer = Producer(producer_config)
        self.ledger = ledger
        self.commit_interval_s = commit_interval_s
        self.metrics = metrics
        self._awaiting: deque[_Acks] = deque()
        self._last_commit = time.monotonic()

    def publish(self, records: list[OutputRecord], positions: dict) -> None:
        """Produce a batch's outputs; its offsets wait for every acknowledgement."""
        acks = _Acks(len(records), positions)

        def on_delivery(error, _message) -> None:
            acks.remaining -= 1
            if error is not None:
                acks.failed = str(error)

        try:
            full = produce_all(self.producer, records, on_delivery)
        except KafkaException as exc:
            # A record librdkafka refuses outright (too large, unknown topic): nothing of this batch is
            # stored, so a rewind re-reads it; records already enqueued may land (duplicates are allowed).
            self.abort()
            raise RewindRequired(f"produce refused: {exc.args[0].str()}") from None
        if full:
            self.metrics.producer_queue_full.inc()
        self._awaiting.append(acks)

    def commit_due(self) -> bool:
        """True when there are acknowledged batches and the interval passed."""
        return bool(self._awaiting) and time.monotonic() - self._last_commit >= self.commit_interval_s

    def commit(self, consumer: Consumer, final: bool = False) -> None:
        """Store offsets of fully acknowledged batches, oldest first; ``final`` flushes and commits now."""
        wait = final
        self._last_commit = time.monotonic()
        if wait:
            self.producer.flush(30)
        else:
            self.producer.poll(0)
        stored = False
        while self._awaiting and self._awaiting[0].remaining <= 0:
            acks = self._awaiting.popleft()
            if acks.failed:
                self._awaiting.clear()
                self.ledger.drop_pending()
                raise RewindRequired(f"delivery failed: {acks.failed}")
            self.ledger.published(acks.positions)
            stored = True
        if stored:
            consumer.store_offsets(offsets=self.ledger.to_commit())
            if wait:
                consumer.commit(asynchronous=False)
            self.ledger.mark_committed()
            self.metrics.transaction("committed")

    def abort(self) -> None:
        """Forget unacknowledged batches (their records may still land: at-least-once allows duplicates)."""
        self._awaiting.clear()
        self.ledger.drop_pending()

    def close(self) -> None:
        """Flush outstanding deliveries."""
        self.producer.flush(10)

    def poll(self) -> None:
        """Serve delivery callbacks."""
        self.producer.poll(0)
