"""Offsets are committed only for published outputs; rewinds go back to the last commit."""

from confluent_kafka import Message, TopicPartition

from engine.serve.offsets import OffsetLedger


def _msg(partition: int, offset: int) -> Message:
    return Message(topic="in", partition=partition, offset=offset, value=b"{}")


def test_first_consumed_offset_is_the_rewind_target_until_a_commit() -> None:
    ledger = OffsetLedger()
    ledger.observe_consumed([_msg(0, 10), _msg(0, 11), _msg(1, 3)])
    assigned = [TopicPartition("in", 0), TopicPartition("in", 1), TopicPartition("in", 2)]
    assert {(t.partition, t.offset) for t in ledger.rewind_targets(assigned)} == {(0, 10), (1, 3)}

    ledger.published({("in", 0): 12})
    assert [(t.partition, t.offset) for t in ledger.to_commit()] == [(0, 12)]
    ledger.drop_pending()  # aborted: nothing moves
    assert {(t.partition, t.offset) for t in ledger.rewind_targets(assigned)} == {(0, 10), (1, 3)}

    ledger.published({("in", 0): 12, ("in", 1): 4})
    ledger.mark_committed()
    assert ledger.to_commit() == []
    assert {(t.partition, t.offset) for t in ledger.rewind_targets(assigned)} == {(0, 12), (1, 4)}
    ledger.observe_consumed([_msg(0, 12)])  # already known: does not move the target
    assert {(t.partition, t.offset) for t in ledger.rewind_targets(assigned)} == {(0, 12), (1, 4)}


def test_forget_drops_revoked_partitions() -> None:
    ledger = OffsetLedger()
    ledger.observe_consumed([_msg(0, 1), _msg(1, 1)])
    ledger.published({("in", 0): 2})
    ledger.forget([TopicPartition("in", 0)])
    assert ledger.to_commit() == []
    assert [(t.partition, t.offset) for t in ledger.rewind_targets([TopicPartition("in", 0), TopicPartition("in", 1)])] == [(1, 1)]


def test_a_commit_moves_only_the_partitions_it_published() -> None:
    ledger = OffsetLedger()
    ledger.observe_consumed([_msg(0, 10), _msg(1, 3)])
    ledger.published({("in", 0): 11})
    ledger.published({("in", 0): 13})  # a later batch of the same partition: the latest position wins
    assert [(t.partition, t.offset) for t in ledger.to_commit()] == [(0, 13)]
    ledger.mark_committed()
    assert ledger.committed == {("in", 0): 13, ("in", 1): 3}


def test_a_forgotten_partition_takes_its_target_from_the_next_record_consumed() -> None:
    ledger = OffsetLedger()
    ledger.observe_consumed([_msg(0, 10)])
    ledger.published({("in", 0): 12})
    ledger.mark_committed()
    ledger.forget([TopicPartition("in", 0)])  # revoked, later assigned back at the group's offset
    ledger.observe_consumed([_msg(0, 40), _msg(0, 41)])
    assert [(t.partition, t.offset) for t in ledger.rewind_targets([TopicPartition("in", 0)])] == [(0, 40)]
