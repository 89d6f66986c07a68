"""The delivery invariant serve promises, checked from what a ``read_committed`` reader sees.

Every input record (a partition and offset of the input topic) is answered exactly once, either by
one output record (whose ``source`` names that position) or by one dead letter (whose
``streaminfer.dlq.partition`` / ``.offset`` headers name it), and per input partition the answers
appear in input-offset order on each output partition. Nothing here knows what a pipeline scores:
only the ``source`` stamp and the dead-letter headers, which every pipeline's records carry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from engine.chaos.watch import CommittedRecord

Position = tuple[int, int]  # (input partition, input offset)

_SAMPLE = 5


@dataclass
class InvariantReport:
    """What the check found; ``ok`` only when nothing is missing, duplicated, unexpected or out of order."""

    inputs: int = 0
    scored: int = 0
    dead_lettered: int = 0
    duplicates: dict[Position, int] = field(default_factory=dict)
    missing: list[Position] = field(default_factory=list)
    unexpected: list[Position] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    unreadable: int = 0

    @property
    def ok(self) -> bool:
        """True when every input was answered exactly once and in order."""
        return not (self.duplicates or self.missing or self.unexpected or self.out_of_order or self.unreadable)

    def summary(self) -> str:
        """One line: the counts, then a sample of each violation."""
        parts = [f"{self.inputs} inputs: {self.scored} scored, {self.dead_lettered} dead-lettered"]
        if self.duplicates:
            extra = sum(n - 1 for n in self.duplicates.values())
            parts.append(f"{len(self.duplicates)} answered more than once ({extra} extra), "
                         f"e.g. {sorted(self.duplicates)[:_SAMPLE]}")
        if self.missing:
            parts.append(f"{len(self.missing)} never answered, e.g. {self.missing[:_SAMPLE]}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} answers for positions not in the input, e.g. "
                         f"{self.unexpected[:_SAMPLE]}")
        if self.out_of_order:
            parts.append(f"{len(self.out_of_order)} out of order, e.g. {self.out_of_order[:2]}")
        if self.unreadable:
            parts.append(f"{self.unreadable} output records without a readable source position")
        return "; ".join(parts) + ("" if not self.ok else " — exactly once, in order")


def _answer_positions(outputs: Iterable[CommittedRecord], dead_letters: Iterable[CommittedRecord],
                      input_topic: str, report: InvariantReport) -> list[tuple[str, Position]]:
    """(stream, position) per answer in the order read; a stream is one output partition."""
    answers: list[tuple[str, Position]] = []
    for record in outputs:
        try:
            source = orjson.loads(record.value)["source"]
            if source.get("topic", input_topic) != input_topic:
                report.unreadable += 1
                continue
            position = (int(source["partition"]), int(source["offset"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            report.unreadable += 1
            continue
        report.scored += 1
        answers.append((f"{record.topic}[{record.partition}]", position))
    for record in dead_letters:
        headers = record.headers
        try:
            if headers.get("streaminfer.dlq.topic", input_topic) != input_topic:
                continue  # another pipeline's dead letter sharing the topic
            position = (int(headers["streaminfer.dlq.partition"]), int(headers["streaminfer.dlq.offset"]))
        except (KeyError, ValueError):
            report.unreadable += 1
            continue
        report.dead_lettered += 1
        answers.append((f"{record.topic}[{record.partition}]", position))
    return answers


def check_invariant(inputs: Iterable[Position], outputs: Iterable[CommittedRecord],
                    dead_letters: Iterable[CommittedRecord] = (), input_topic: str = "") -> InvariantReport:
    """Check exactly-once, in-order answers for ``inputs``.

    Args:
        inputs: (partition, offset) of every committed input record.
        outputs: Output records as read (``read_committed``), each with a JSON ``source`` object.
        dead_letters: Dead-letter records as read, with ``streaminfer.dlq.*`` headers.
        input_topic: When given, answers naming another source topic are not counted.

    Returns:
        The report; ``report.ok`` is the verdict and ``report.summary()`` the message.
    """
    expected = set(inputs)
    report = InvariantReport(inputs=len(expected))
    answers = _answer_positions(outputs, dead_letters, input_topic, report)
    counts = Counter(position for _, position in answers)
    report.duplicates = {p: n for p, n in counts.items() if n > 1}
    report.missing = sorted(expected - counts.keys())
    report.unexpected = sorted(counts.keys() - expected)
    last: dict[tuple[str, int], int] = {}
    for stream, (partition, offset) in answers:
        key = (stream, partition)
        previous = last.get(key, -1)
        if offset <= previous and counts[(partition, offset)] == 1:
            # A duplicate is already reported; a single answer behind a later one is an order break.
            report.out_of_order.append(f"{stream}: input {partition}@{offset} after {partition}@{previous}")
        last[key] = max(previous, offset)
    return report
