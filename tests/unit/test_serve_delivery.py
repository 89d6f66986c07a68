"""How outputs and offsets reach Kafka (engine/serve/delivery.py, engine/publish/producer.py), with a
scripted fake producer: transactions, the error policy, at-least-once offset storing, back-pressure."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Message

import engine.serve.delivery as delivery_module
from engine.batching.batch_builder import BatchBuilder
from engine.codec.decode import EventDecoder
from engine.config.pipeline import PipelineSettings
from engine.errors import FencedError
from engine.ingest.kafka_clients import producer_config
from engine.metrics.serve_metrics import ServeMetrics
from engine.publish.producer import produce_all
from engine.publish.records import OutputRecord, RecordContext, batch_records
from engine.serve.delivery import AtLeastOnceDelivery, RewindRequired, TransactionalDelivery
from engine.serve.offsets import OffsetLedger
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog
from models.fraud.pipeline import FraudPipeline

IN = "fraud.transactions"
GROUP_METADATA = object()  # what the fake consumer hands out as its consumer_group_metadata()


class FakeProducer:
    """Stands in for ``confluent_kafka.Producer``: logs every call in order, raises scripted
    exceptions (``fail[method] = [exc, ...]``, consumed first to last), holds produced records'
    delivery callbacks until the test calls :meth:`deliver` (``flush`` delivers everything)."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.calls: list[str] = []
        self.fail: dict[str, list[BaseException]] = {}
        self.on_call: dict[str, object] = {}  # method -> callable run when it is called
        self.produced: list[tuple[str, bytes | None, bytes | None]] = []
        self.sent_offsets: list[tuple[list[tuple[str, int, int]], object]] = []
        self.polls: list[float] = []
        self._callbacks: list[tuple[object, bool]] = []  # (on_delivery, already delivered)

    def _called(self, method: str) -> None:
        self.calls.append(method)
        if method in self.on_call:
            self.on_call[method]()
        scripted = self.fail.get(method)
        if scripted:
            raise scripted.pop(0)

    def init_transactions(self, timeout: float) -> None:
        self._called("init_transactions")

    def begin_transaction(self) -> None:
        self._called("begin_transaction")

    def send_offsets_to_transaction(self, offsets, metadata, timeout: float) -> None:
        self._called("send_offsets_to_transaction")
        self.sent_offsets.append(([(tp.topic, tp.partition, tp.offset) for tp in offsets], metadata))

    def commit_transaction(self, timeout: float) -> None:
        self._called("commit_transaction")

    def abort_transaction(self, timeout: float) -> None:
        self._called("abort_transaction")

    def produce(self, topic, value=None, key=None, headers=None, on_delivery=None) -> None:
        self._called("produce")
        self.produced.append((topic, value, key))
        self._callbacks.append((on_delivery, False))

    def poll(self, timeout: float = 0) -> int:
        self.polls.append(timeout)
        return 0

    def flush(self, timeout: float = 0) -> int:
        self.calls.append("flush")
        for index, (_, delivered) in enumerate(self._callbacks):
            if not delivered:
                self.deliver(index)
        return 0

    def deliver(self, index: int, error: KafkaError | None = None) -> None:
        """Run the delivery report of the ``index``-th produced record (once)."""
        callback, delivered = self._callbacks[index]
        assert not delivered, f"record {index} was already delivered"
        self._callbacks[index] = (callback, True)
        if callback is not None:
            callback(error, None)


class FakeConsumer:
    """The consumer methods the deliveries use: group metadata, store_offsets, commit."""

    def __init__(self) -> None:
        self.stored: list[list[tuple[str, int, int]]] = []
        self.commits: list[bool] = []

    def consumer_group_metadata(self) -> object:
        return GROUP_METADATA

    def store_offsets(self, offsets=None, message=None) -> None:
        self.stored.append(sorted((tp.topic, tp.partition, tp.offset) for tp in offsets))

    def commit(self, asynchronous: bool = True) -> None:
        self.commits.append(asynchronous)


def kafka_exception(code: int, *, fatal=False, retriable=False, txn_requires_abort=False) -> KafkaException:
    return KafkaException(KafkaError(code, "scripted", fatal=fatal, retriable=retriable,
                                     txn_requires_abort=txn_requires_abort))


def records(n: int, topic: str = "fraud.scores") -> list[OutputRecord]:
    return [OutputRecord(topic, f"k{i}".encode(), f"v{i}".encode()) for i in range(n)]


def transactions(metrics: ServeMetrics, outcome: str) -> float:
    return metrics.registry.get_sample_value("streaminfer_transactions_total",
                                             {"pipeline": "fraud", "outcome": outcome}) or 0.0


class DeliveryClock:
    """Replaces the delivery module's ``time``: a monotonic clock moved by hand, and ``sleep``
    (the retry backoff) recorded instead of slept."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> DeliveryClock:
    clock = DeliveryClock()
    monkeypatch.setattr(delivery_module, "time", clock)
    return clock


@pytest.fixture()
def no_sleep(clock: DeliveryClock) -> list[float]:
    """The retry backoff of the transactional delivery, recorded instead of slept."""
    return clock.slept


@pytest.fixture()
def eos(monkeypatch: pytest.MonkeyPatch, no_sleep) -> tuple[TransactionalDelivery, FakeProducer, OffsetLedger, ServeMetrics]:
    monkeypatch.setattr(delivery_module, "Producer", FakeProducer)
    ledger, metrics = OffsetLedger(), ServeMetrics("fraud")
    ledger.committed = {(IN, 0): 0, (IN, 1): 0}
    delivery = TransactionalDelivery({"transactional.id": "t"}, ledger, 3600.0, metrics)
    return delivery, delivery.producer, ledger, metrics


# -- exactly-once ----------------------------------------------------------------------------

def test_transaction_begins_lazily_with_the_first_publish_and_only_once(eos) -> None:
    delivery, producer, ledger, _ = eos
    assert producer.calls == ["init_transactions"] and not delivery.commit_due()
    delivery.commit(FakeConsumer())  # nothing open: nothing to do
    assert producer.calls == ["init_transactions"]
    delivery.publish(records(2), {(IN, 0): 5})
    delivery.publish(records(1), {(IN, 0): 7, (IN, 1): 3})
    assert producer.calls == ["init_transactions", "begin_transaction", "produce", "produce", "produce"]
    assert ledger.pending == {(IN, 0): 7, (IN, 1): 3} and ledger.committed == {(IN, 0): 0, (IN, 1): 0}


def test_commit_sends_the_ledger_offsets_with_group_metadata_then_commits(eos) -> None:
    delivery, producer, ledger, metrics = eos
    committed_when_commit_ran: list[dict] = []
    producer.on_call["commit_transaction"] = lambda: committed_when_commit_ran.append(dict(ledger.committed))
    delivery.publish(records(1), {(IN, 0): 5})
    delivery.publish(records(1), {(IN, 0): 7, (IN, 1): 3})
    delivery.commit(FakeConsumer())
    assert producer.calls[-2:] == ["send_offsets_to_transaction", "commit_transaction"]
    offsets, metadata = producer.sent_offsets[0]
    assert sorted(offsets) == [(IN, 0, 7), (IN, 1, 3)] and metadata is GROUP_METADATA
    assert committed_when_commit_ran == [{(IN, 0): 0, (IN, 1): 0}], "committed moved before the commit succeeded"
    assert ledger.committed == {(IN, 0): 7, (IN, 1): 3} and ledger.pending == {}
    assert transactions(metrics, "committed") == 1
    delivery.publish(records(1), {(IN, 0): 8})
    assert producer.calls.count("begin_transaction") == 2, "the next publish opens a new transaction"


def test_commit_is_due_only_with_an_open_transaction_after_the_interval(monkeypatch, clock) -> None:
    monkeypatch.setattr(delivery_module, "Producer", FakeProducer)
    delivery = TransactionalDelivery({}, OffsetLedger(), 1.0, ServeMetrics("fraud"))
    clock.now += 5.0
    assert not delivery.commit_due(), "no transaction open: nothing to commit however long it has been"
    delivery.publish(records(1), {(IN, 0): 1})
    assert delivery.commit_due()
    delivery.commit(FakeConsumer())
    delivery.publish(records(1), {(IN, 0): 2})
    clock.now += 0.9
    assert not delivery.commit_due(), "the interval counts from the last commit"
    clock.now += 0.1
    assert delivery.commit_due()


def test_a_retriable_commit_error_is_retried_and_the_commit_succeeds(eos, no_sleep) -> None:
    delivery, producer, ledger, metrics = eos
    producer.fail["commit_transaction"] = [kafka_exception(KafkaError._TIMED_OUT, retriable=True)]
    delivery.publish(records(1), {(IN, 0): 4})
    delivery.commit(FakeConsumer())
    assert producer.calls.count("commit_transaction") == 2 and "abort_transaction" not in producer.calls
    assert ledger.committed[(IN, 0)] == 4 and len(no_sleep) == 1
    assert transactions(metrics, "committed") == 1 and transactions(metrics, "aborted") == 0


@pytest.mark.parametrize("retriable", [False, True], ids=["abortable", "abortable-and-retriable"])
def test_an_abortable_error_aborts_drops_pending_and_asks_for_a_rewind(eos, retriable: bool) -> None:
    delivery, producer, ledger, metrics = eos
    producer.fail["commit_transaction"] = [kafka_exception(KafkaError.CONCURRENT_TRANSACTIONS, retriable=retriable,
                                                           txn_requires_abort=True)]
    delivery.publish(records(1), {(IN, 0): 4})
    with pytest.raises(RewindRequired):
        delivery.commit(FakeConsumer())
    assert producer.calls[-2:] == ["commit_transaction", "abort_transaction"]
    assert producer.calls.count("commit_transaction") == 1, "an abortable error is not retried"
    assert ledger.pending == {} and ledger.committed[(IN, 0)] == 0
    assert transactions(metrics, "aborted") == 1 and transactions(metrics, "committed") == 0
    assert not delivery.commit_due()
    delivery.publish(records(1), {(IN, 0): 4})
    assert producer.calls[-2:] == ["begin_transaction", "produce"], "after the abort a fresh transaction opens"


def test_a_retriable_error_that_keeps_failing_gives_up_after_five_attempts(eos, no_sleep) -> None:
    delivery, producer, ledger, _ = eos
    producer.fail["commit_transaction"] = [kafka_exception(KafkaError._TIMED_OUT, retriable=True) for _ in range(5)]
    delivery.publish(records(1), {(IN, 0): 4})
    with pytest.raises(RewindRequired):
        delivery.commit(FakeConsumer())
    assert producer.calls.count("commit_transaction") == 5 and producer.calls[-1] == "abort_transaction"
    assert no_sleep == sorted(no_sleep) and len(no_sleep) == 4, "growing backoff between the attempts"
    assert ledger.pending == {} and ledger.committed[(IN, 0)] == 0


@pytest.mark.parametrize("error", [
    kafka_exception(KafkaError._FATAL, fatal=True),
    kafka_exception(KafkaError._FENCED),
    kafka_exception(KafkaError.PRODUCER_FENCED),
    kafka_exception(KafkaError.INVALID_PRODUCER_EPOCH),
], ids=["fatal", "_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"])
@pytest.mark.parametrize("method", ["send_offsets_to_transaction", "commit_transaction"])
def test_fencing_is_fatal_and_nothing_is_committed(eos, error: KafkaException, method: str) -> None:
    delivery, producer, ledger, metrics = eos
    producer.fail[method] = [error]
    delivery.publish(records(1), {(IN, 0): 4})
    with pytest.raises(FencedError):
        delivery.commit(FakeConsumer())
    assert producer.calls[-1] == method, "no retry, no abort, no commit after being fenced"
    assert ledger.committed[(IN, 0)] == 0 and transactions(metrics, "committed") == 0


def test_a_fatal_error_opening_a_transaction_is_fencing(eos) -> None:
    delivery, producer, _, _ = eos
    producer.fail["begin_transaction"] = [kafka_exception(KafkaError._FENCED, fatal=True)]
    with pytest.raises(FencedError):
        delivery.publish(records(1), {(IN, 0): 1})
    assert "produce" not in producer.calls


def test_abort_aborts_only_an_open_transaction(eos) -> None:
    delivery, producer, ledger, metrics = eos
    delivery.abort()
    assert "abort_transaction" not in producer.calls and transactions(metrics, "aborted") == 0
    delivery.publish(records(1), {(IN, 0): 2})
    delivery.abort()
    assert producer.calls[-1] == "abort_transaction" and ledger.pending == {}
    assert transactions(metrics, "aborted") == 1 and not delivery.commit_due()


@pytest.mark.parametrize(("code", "expected"), [(KafkaError._STATE, RewindRequired), (KafkaError._FATAL, FencedError)],
                         ids=["abortable-state", "fatal-state"])
def test_produce_refused_by_the_transaction_state_is_mapped_to_the_error_policy(eos, code, expected) -> None:
    delivery, producer, _, _ = eos
    producer.fail["produce"] = [kafka_exception(code)]
    with pytest.raises(expected):
        delivery.publish(records(1), {(IN, 0): 1})


# -- at-least-once ---------------------------------------------------------------------------

@pytest.fixture()
def alo(monkeypatch: pytest.MonkeyPatch) -> tuple[AtLeastOnceDelivery, FakeProducer, OffsetLedger, FakeConsumer]:
    monkeypatch.setattr(delivery_module, "Producer", FakeProducer)
    ledger = OffsetLedger()
    ledger.committed = {(IN, 0): 0, (IN, 1): 0}
    delivery = AtLeastOnceDelivery({}, ledger, 0.0, ServeMetrics("fraud"))
    return delivery, delivery.producer, ledger, FakeConsumer()


def test_offsets_are_stored_only_for_fully_acknowledged_batches_in_batch_order(alo) -> None:
    delivery, producer, ledger, consumer = alo
    delivery.publish(records(2), {(IN, 0): 2})      # records 0, 1
    delivery.publish(records(1), {(IN, 0): 3})      # record 2
    delivery.publish(records(1), {(IN, 1): 9})      # record 3
    producer.deliver(2)                             # the second batch is done, the first is not
    delivery.commit(consumer)
    producer.deliver(0)
    delivery.commit(consumer)
    assert consumer.stored == [] and ledger.committed == {(IN, 0): 0, (IN, 1): 0}
    producer.deliver(1)                             # the first batch completes: both go, in order
    delivery.commit(consumer)
    assert consumer.stored == [[(IN, 0, 3)]] and ledger.committed[(IN, 0)] == 3
    producer.deliver(3)
    delivery.commit(consumer)
    assert consumer.stored[-1] == [(IN, 1, 9)] and ledger.committed == {(IN, 0): 3, (IN, 1): 9}
    assert consumer.commits == [], "not final: the consumer auto-commits what was stored"


def test_a_failed_delivery_asks_for_a_rewind_and_stores_nothing(alo) -> None:
    delivery, producer, ledger, consumer = alo
    delivery.publish(records(1), {(IN, 0): 1})
    delivery.publish(records(1), {(IN, 0): 2})
    producer.deliver(0, KafkaError(KafkaError._MSG_TIMED_OUT, "timed out"))
    producer.deliver(1)
    with pytest.raises(RewindRequired, match="timed out"):
        delivery.commit(consumer)
    assert consumer.stored == [] and ledger.pending == {} and ledger.committed[(IN, 0)] == 0
    delivery.commit(consumer)  # the later batch was forgotten with the failed one
    assert consumer.stored == [] and not delivery.commit_due()


def test_final_commit_flushes_then_stores_and_commits_synchronously(alo) -> None:
    delivery, producer, ledger, consumer = alo
    delivery.publish(records(3), {(IN, 0): 3, (IN, 1): 1})
    delivery.commit(consumer)
    assert consumer.stored == [], "nothing acknowledged yet"
    delivery.commit(consumer, final=True)
    assert "flush" in producer.calls
    assert consumer.stored == [[(IN, 0, 3), (IN, 1, 1)]] and consumer.commits == [False]
    assert ledger.committed == {(IN, 0): 3, (IN, 1): 1}


def test_abort_forgets_batches_still_waiting_for_acknowledgements(alo) -> None:
    delivery, producer, ledger, consumer = alo
    delivery.publish(records(1), {(IN, 0): 1})
    delivery.abort()
    producer.deliver(0)  # a late report of an aborted batch
    delivery.commit(consumer, final=True)
    assert consumer.stored == [] and ledger.committed[(IN, 0)] == 0 and not delivery.commit_due()


# -- produce_all: back-pressure --------------------------------------------------------------

class QueueFullProducer(FakeProducer):
    """A producer whose local queue fills up after the first record (BufferError) and stays full
    until ``poll`` with a timeout has been called ``full_for`` times, as delivery reports free it."""

    def __init__(self, full_for: int) -> None:
        super().__init__({})
        self.full_for = full_for

    def produce(self, topic, value=None, key=None, headers=None, on_delivery=None) -> None:
        if len(self.produced) == 1 and self.full_for:
            self.calls.append("BufferError")
            raise BufferError("Local: Queue full")
        super().produce(topic, value, key, headers, on_delivery)

    def poll(self, timeout: float = 0) -> int:
        if timeout > 0 and self.full_for:
            self.full_for -= 1
        return super().poll(timeout)


def test_a_full_queue_is_served_by_polling_and_every_record_goes_once_in_order() -> None:
    producer = QueueFullProducer(full_for=3)
    reports: list = []
    assert produce_all(producer, records(4), lambda error, message: reports.append(error)) == 3, \
        "returns how often the queue was full (the producer_queue_full metric)"
    assert [value for _, value, _ in producer.produced] == [b"v0", b"v1", b"v2", b"v3"]
    assert producer.calls.count("BufferError") == 3 and producer.polls[:3] == [0.05, 0.05, 0.05]
    assert producer.polls[-1] == 0, "delivery reports are served once more at the end"
    producer.flush()
    assert reports == [None] * 4, "each record carries the delivery callback"


# -- a real librdkafka producer: can every rejected record be dead-lettered? --------------------

def test_a_too_large_input_record_can_be_dead_lettered() -> None:
    settings = PipelineSettings(kafka={"delivery": "at-least-once", "bootstrap_servers": "127.0.0.1:1"})
    decoder = EventDecoder(SchemaRegistry(TopicCatalog.load()).validator(IN))
    builder = BatchBuilder(decoder, FraudPipeline(), max_rows=1, max_delay_s=1.0)
    value = b"x" * 1_100_000  # over the 1 MiB decode limit, under the topic's 1.5 MiB
    batch = builder.build(1, 0, [Message(topic=IN, partition=0, offset=0, key=b"k", value=value)], time.time())
    dead, _, reasons = batch_records(batch, RecordContext("fraud", "w0", "fraud.scores", "fraud.dlq", "fraud",
                                                                 FraudPipeline()))
    assert reasons == {"too_large": 1} and len(dead[0].value) == len(value)
    delivery = AtLeastOnceDelivery(producer_config(settings, "0"), OffsetLedger(), 0.1, ServeMetrics("fraud"))
    try:
        delivery.publish(dead, {(IN, 0): 1})
    finally:
        delivery.producer.purge()
        delivery.producer.flush(0)
