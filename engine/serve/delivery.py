"""How outputs and offsets reach Kafka: exactly-once (transactions) or at-least-once (idempotent
producer, offsets stored only after every output of a batch was acknowledged)."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from engine.errors import FencedError
from engine.publish.producer import produce_all
from engine.publish.records import OutputRecord
from engine.serve.offsets import OffsetLedger

log = logging.getLogger("streaminfer.serve")


class RewindRequired(Exception):
    """The uncommitted outputs were dropped; the worker must rewind to committed offsets."""


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
        self._call(lambda: self.producer.init_transactions(30))

    def publish(self, records: list[OutputRecord], positions: dict) -> None:
        """Produce a batch's outputs inside the open transaction (opening one if needed)."""
        if not self._in_transaction:
            self._call(self.producer.begin_transaction)
            self._in_transaction = True
        produce_all(self.producer, records)
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
                self._retrying(lambda: self.producer.send_offsets_to_transaction(
                    offsets, consumer.consumer_group_metadata(), 30))
            self._retrying(lambda: self.producer.commit_transaction(30))
        except RewindRequired:
            self.abort()
            raise
        self._in_transaction = False
        self.ledger.mark_committed()
        self.metrics.transaction("committed")

    def abort(self) -> None:
        """Abort the open transaction (if any) and forget its outputs."""
        if self._in_transaction:
            try:
                self._call(lambda: self.producer.abort_transaction(30))
            finally:
                self._in_transaction = False
                self.ledger.drop_pending()
                self.metrics.transaction("aborted")
        self.ledger.drop_pending()

    def close(self) -> None:
        """Flush what is left (nothing after a commit)."""
        self.producer.flush(10)

    def poll(self) -> None:
        """Serve delivery callbacks."""
        self.producer.poll(0)

    # -- error policy -------------------------------------------------------------------
    def _retrying(self, call) -> None:
        for attempt in range(5):
            try:
                call()
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.fatal() or error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                                     KafkaError.INVALID_PRODUCER_EPOCH):
                    raise FencedError(f"producer fenced: {error.str()}") from None
                if error.txn_requires_abort():
                    log.warning("transaction must abort: %s", error.str())
                    raise RewindRequired(error.str()) from None
                if error.retriable() and attempt < 4:
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

        produce_all(self.producer, records, on_delivery)
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
