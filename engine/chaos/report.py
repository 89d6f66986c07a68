"""A chaos run's report: the fault timeline, the invariant, throughput, and the soak's RSS — as a
plain-text table (the bench's house style) and as a JSON document."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.chaos.invariant import InvariantReport
from engine.chaos.soak import SoakSummary
from engine.chaos.timeline import FaultRecord

_SAMPLE = 20


@dataclass
class ChaosReport:
    """Everything a chaos (or soak) run found.

    Attributes:
        run_id: The run's unique id (topic names, group, transactional ids, run directory).
        mode: ``chaos`` or ``soak``.
        events: Valid events generated.
        malformed: Malformed records generated.
        expected: Input records expected (events + malformed).
        answered: Answers (scores + dead letters) a read_committed reader saw at the end.
        inputs_read: Input records read back from the input topic (should be ``expected``).
        elapsed_s: Generator start → the last answer.
        answered_per_s: ``answered / elapsed_s``.
        faults: The timeline: scheduled faults, unexpected exits, the final shutdown.
        not_fired: Scheduled faults that never fired (the run ended or aborted first).
        invariant: The delivery check (None when the run aborted before it).
        soak: RSS over time (soak mode).
        error: Why the run aborted, if it did.
        interrupted: It was stopped by Ctrl-C.
        run_dir: Pipeline YAML and every process log.
        settings: The options of the run and the pipeline it resolved to.
        pipeline: The pipeline under test (its YAML ``name``; empty: unnamed, as before ``--pipeline``).
    """

    run_id: str
    mode: str
    events: int
    malformed: int
    expected: int
    answered: int = 0
    inputs_read: int | None = None
    elapsed_s: float = 0.0
    answered_per_s: float | None = None
    faults: list[FaultRecord] = field(default_factory=list)
    not_fired: list[str] = field(default_factory=list)
    invariant: InvariantReport | None = None
    soak: SoakSummary | None = None
    error: str = ""
    interrupted: bool = False
    run_dir: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    pipeline: str = ""

    @property
    def ok(self) -> bool:
        """The invariant holds, every fault had its expected outcome, all fired, nothing aborted."""
        return not self.failures()

    def failures(self) -> list[str]:
        """Why the run failed, one short reason each (empty when ``ok``)."""
        reasons = []
        if self.error:
            reasons.append(f"aborted: {self.error.splitlines()[0]}")
        if self.invariant is None:
            reasons.append("invariant not checked")
        elif not self.invariant.ok:
            reasons.append("invariant violated")
        if self.inputs_read is not None and self.inputs_read != self.expected:
            reasons.append(f"the input topic holds {self.inputs_read:,} records, {self.expected:,} were generated")
        reasons += [f"{row.fault}: {row.outcome or 'no outcome'}" for row in self.faults if not row.ok]
        reasons += [f"{label}: never fired" for label in self.not_fired]
        return reasons

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "run_id": self.run_id, "mode": self.mode, "pipeline": self.pipeline, "ok": self.ok,
            "failures": self.failures(),
            "events": self.events, "malformed": self.malformed, "expected": self.expected,
            "answered": self.answered, "inputs_read": self.inputs_read, "elapsed_s": round(self.elapsed_s, 2),
            "answered_per_s": None if self.answered_per_s is None else round(self.answered_per_s, 1),
            "faults": [row.to_json() for row in self.faults], "not_fired": self.not_fired,
            "invariant": invariant_json(self.invariant),
            "soak": None if self.soak is None else self.soak.to_json(),
            "error": self.error, "run_dir": self.run_dir, "settings": self.settings,
        }


def invariant_json(report: InvariantReport | None) -> dict[str, Any] | None:
    """The invariant's counts, verdict, summary line and a sample of each violation."""
    if report is None:
        return None
    return {
        "ok": report.ok, "summary": report.summary(), "inputs": report.inputs, "scored": report.scored,
        "dead_lettered": report.dead_lettered, "duplicates": len(report.duplicates),
        "duplicate_extra": sum(n - 1 for n in report.duplicates.values()),
        "missing": len(report.missing), "unexpected": len(report.unexpected),
        "out_of_order": len(report.out_of_order), "unreadable": report.unreadable,
        "samples": {"duplicates": [list(p) for p in sorted(report.duplicates)[:_SAMPLE]],
                    "missing": [list(p) for p in report.missing[:_SAMPLE]],
                    "unexpected": [list(p) for p in report.unexpected[:_SAMPLE]],
                    "out_of_order": report.out_of_order[:_SAMPLE]},
    }


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def render_report(report: ChaosReport, console: Console | None = None) -> None:
    """Print the timeline table, the invariant line, throughput, the soak table and the verdict."""
    console = console or Console()

    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False)  # outcomes and errors hold [brackets]

    title = " ".join(part for part in ("streaminfer", report.mode, report.pipeline, report.run_id) if part)
    if report.faults:
        table = Table(title=title, show_lines=False)
        for header, justify in (("#", "right"), ("fault", "left"), ("at s", "right"), ("progress", "right"),
                                ("action", "left"), ("outcome", "left"), ("expected", "left"), ("ok", "left"),
                                ("recovery s", "right")):
            table.add_column(header, justify=justify)  # type: ignore[arg-type]
        for index, row in enumerate(report.faults, 1):
            cells = (str(index), row.fault, f"{row.started_s:,.1f}", f"{row.progress:.1%}", row.action,
                     row.outcome, row.expected, "yes" if row.ok else "NO", _seconds(row.recovery_s))
            table.add_row(*(Text(cell) for cell in cells))  # Text: outcomes hold [brackets], not markup
        console.print(table)
    else:
        say(f"{title}: no faults")
    for label in report.not_fired:
        say(f"never fired: {label}")
    if report.invariant is not None:
        say(f"invariant: {'HOLDS' if report.invariant.ok else 'VIOLATED'}: {report.invariant.summary()}")
    else:
        say("invariant: not checked")
    rate = "—" if report.answered_per_s is None else f"{report.answered_per_s:,.0f}"
    which = f" ({report.pipeline})" if report.pipeline else ""
    say(f"events{which}: {report.events:,} valid + {report.malformed:,} malformed = {report.expected:,} inputs; "
        f"answered {report.answered:,}; elapsed {report.elapsed_s:,.1f} s; average {rate} answered/s")
    if report.soak is not None:
        render_soak(report.soak, console)
    if report.error:
        say(f"aborted: {report.error}")
    say(f"logs: {report.run_dir}")
    say("verdict: PASS" if report.ok else f"verdict: FAIL ({'; '.join(report.failures())})")


def render_soak(soak: SoakSummary, console: Console) -> None:
    """RSS over time, one row per minute, then the growth line."""
    console.print(f"worker RSS, sampled every {soak.interval_s:g} s ({soak.samples} samples); one row per minute:",
                  highlight=False, markup=False)
    table = Table()
    for header in ("minute", "at s", "answered", "RSS MiB"):
        table.add_column(header, justify="right")
    for row in soak.rows:
        table.add_row(str(row.minute), f"{row.at_s:,.0f}", f"{row.answered:,}", f"{row.rss_mib:,.1f}")
    console.print(table)
    console.print(soak.growth_line(), highlight=False, markup=False)


def write_json(report: ChaosReport, path: Path) -> None:
    """Write the ``--json`` document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2))
