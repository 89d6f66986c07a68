"""A live terminal view (rich) of a running serve worker: throughput, batches, latency, DLQ, samples.

With a learner beside it, the view adds what the learner reports: its progress and the standings of the
champion and the challengers (:mod:`engine.observe.shadow_panel`; a ranking learner:
:mod:`engine.observe.ranking_panel`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from engine.observe.learn_scrape import LearnerSnapshot
from engine.observe.ranking_panel import RankingBoard, render_ranking
from engine.observe.scrape import MetricsSnapshot
from engine.observe.shadow_board import ShadowBoard
from engine.observe.shadow_panel import render_shadow

BREAKER = {0: "[green]closed[/]", 1: "[red]OPEN[/]", 2: "[yellow]half-open[/]"}


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


@dataclass
class LiveState:
    """Rolling window of snapshots plus recent sample scores."""

    window_s: float = 5.0
    snapshots: deque[MetricsSnapshot] = field(default_factory=lambda: deque(maxlen=600))
    samples: deque[dict] = field(default_factory=lambda: deque(maxlen=6))
    produced: int | None = None   # what a generator beside the worker sent (None: not known, e.g. `top`)
    malformed: int | None = None
    notes: list[str] = field(default_factory=list)
    shadow: ShadowBoard | None = None        # champion vs challengers, when a learner runs
    learner: LearnerSnapshot | None = None   # the learner's latest metrics
    ranking: RankingBoard | None = None      # a ranking learner beside the worker (its own panel)
    summarize: Callable[[dict], tuple[str, str]] | None = None  # the plugin's (id, result) of a sample
    unit: str = "outputs"                     # what the throughput line counts
    rollout: str | None = None                # the rollout plan in force, one line (None: not shown)

    def add(self, snap: MetricsSnapshot | None) -> None:
        """Keep a snapshot (None = worker not answering yet)."""
        if snap is not None:
            self.snapshots.append(snap)

    def window(self) -> tuple[MetricsSnapshot, MetricsSnapshot] | None:
        """The oldest snapshot within the window and the newest one."""
        if len(self.snapshots) < 2:
            return None
        newest = self.snapshots[-1]
        oldest = next((s for s in self.snapshots if newest.at - s.at <= self.window_s), self.snapshots[0])
        return (oldest, newest) if newest.at > oldest.at else None


def render(state: LiveState, title: str = "streaminfer serve") -> Panel:
    """One frame of the live view."""
    stats = Table.grid(padding=(0, 3))
    stats.add_column(justify="right", style="bold")
    stats.add_column()
    window = state.window()
    latest = state.snapshots[-1] if state.snapshots else None
    if window and latest:
        old, new = window
        span = new.at - old.at
        rate = (new.scored - old.scored) / span
        e2e = new.end_to_end.minus(old.end_to_end)
        rows = new.batch_rows.minus(old.batch_rows)
        triton = new.triton.minus(old.triton)
        stats.add_row("throughput", f"{rate:,.0f} {state.unit}/s (last {span:.0f}s)")
        stats.add_row("batch size", f"{(rows.total / rows.count) if rows.count else 0:,.0f} rows avg, "
                                    f"{new.in_flight:.0f} in flight")
        stats.add_row("latency e2e", f"p50 {_ms(e2e.quantile(0.5))}  p95 {_ms(e2e.quantile(0.95))}  "
                                     f"p99 {_ms(e2e.quantile(0.99))}")
        stats.add_row("triton", f"p50 {_ms(triton.quantile(0.5))}  p99 {_ms(triton.quantile(0.99))}")
    if latest:
        produced = f"{state.produced:,} produced, " if state.produced is not None else ""
        stats.add_row("totals", f"{produced}{latest.consumed:,.0f} consumed, "
                                f"{latest.scored:,.0f} answered, lag {latest.lag:,.0f}")
        dlq = ", ".join(f"{reason} {count:.0f}" for reason, count in sorted(latest.dead_letters.items())) or "none"
        sent = f"; {state.malformed} malformed sent" if state.malformed is not None else ""
        stats.add_row("dead letters", f"{sum(latest.dead_letters.values()):.0f} ({dlq}){sent}")
        stats.add_row("breaker", BREAKER.get(int(latest.breaker_state), "?") +
                      f"   transactions committed {latest.transactions:,.0f}")
        if state.rollout is not None or latest.rollout_generation >= 0:
            stats.add_row("rollout", _rollout_line(state.rollout, latest))
    else:
        stats.add_row("", "waiting for the worker's /metrics …")
    samples = Table("id", "result", "model", "source", "engine latency", box=None, header_style="dim")
    for record in list(state.samples):
        identity, result = state.summarize(record) if state.summarize else (str(record.get("event_id", "?")), "")
        samples.add_row(identity, result, f"{record['model']['name']} v{record['model']['version']}",
                        f"p{record['source']['partition']}@{record['source']['offset']}", f"{record['latency_ms']:.1f} ms")
    parts = [stats, "", samples]
    if state.learner is not None or state.shadow is not None:
        parts.append("")
    if state.learner is not None:
        parts.append(_learner_line(state.learner))
    if state.shadow is not None:
        parts.append(render_shadow(state.shadow))
    if state.ranking is not None:
        parts += ["", render_ranking(state.ranking, state.snapshots[-1].at if state.snapshots else None)]
    if state.notes:
        parts += ["", *state.notes[-3:]]
    return Panel(Group(*parts), title=title, border_style="cyan")


def _rollout_line(plan: str | None, snap: MetricsSnapshot) -> str:
    """The plan (as the caller read it) and what each model version served, from the worker's metrics."""
    served = ", ".join(f"v{version} {role} {count:,.0f}" for (version, role), count in
                       sorted(snap.version_events.items(), key=lambda item: (item[0][1], item[0][0])) if count)
    fallbacks = f", {snap.fallbacks:,.0f} fell back" if snap.fallbacks else ""
    applied = f"worker applies generation {snap.rollout_generation:.0f}, candidate weight {snap.candidate_weight:g}%"
    return f"{plan or ''}\n{applied}; served: {served or 'nothing yet'}{fallbacks}".strip()


def _learner_line(snap: LearnerSnapshot) -> str:
    labels = snap.records.get("labels", 0.0)
    return (f"[bold]learner[/]  {labels:,.0f} labels read, {snap.joined:,.0f} joined to their scores, "
            f"lag {snap.total_lag:,.0f}")
