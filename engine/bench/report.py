"""A benchmark report three ways: a rich table on the terminal, a JSON document, a PNG chart."""

from __future__ import annotations

from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from engine.bench.results import BenchReport, ContenderResult


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _status(row: ContenderResult) -> str:
    if row.error:
        return f"[red]{row.error[:60]}[/red]"
    if row.capped:
        return f"capped: {row.events_out:,} done"
    return "all scored once" if row.complete else f"[yellow]{row.distinct_out:,}/{row.expected:,}[/yellow]"


def shows_rows(report: BenchReport) -> bool:
    """Whether the table needs a rows/s column: the pipeline's events are not one model row each."""
    return abs(float(report.settings.get("rows_per_event") or 1.0) - 1.0) > 1e-9


def render_table(report: BenchReport, console: Console | None = None) -> None:
    """Print the rows, the ratios and the targets."""
    console = console or Console()
    pipeline = report.settings.get("pipeline")
    rows_column = shows_rows(report)
    table = Table(title=f"streaminfer bench — {pipeline}" if pipeline else "streaminfer bench", show_lines=False)
    headers = [("contender", "left"), ("events/s", "right"), ("p50 ms", "right"), ("p95 ms", "right"),
               ("p99 ms", "right"), ("visible p99", "right"), ("at rate/s", "right"), ("CPU-s/1k", "right"),
               ("RSS MB", "right"), ("saturated run", "left")]
    if rows_column:
        headers.insert(2, ("rows/s", "right"))
    for header, justify in headers:
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for row in report.rows:
        cells = [row.name, _num(row.events_per_s, 0), _num(row.p50_ms), _num(row.p95_ms), _num(row.p99_ms),
                 _num(row.visible_p99_ms), _num(row.paced_rate, 0), _num(row.cpu_s_per_1k, 3),
                 _num(row.rss_mb, 0), _status(row)]
        if rows_column:
            cells.insert(2, _num(row.rows_per_s, 0))
        table.add_row(*cells)
    console.print(table)
    if rows_column:
        console.print(f"events = {report.settings.get('input_schema')} records (one output each); rows = model "
                      f"rows, {_num(report.settings.get('rows_per_event'), 1)} per event on average in this "
                      "dataset. triton_ceiling counts the rows and events it sent; the other rows/s are "
                      "events/s x that average; CPU-s/1k and latency are per event.")
    ratios = ", ".join(f"{k} = {_num(v, 2)}" for k, v in report.ratios.items())
    console.print(f"ratios: {ratios}")
    for target in report.targets:
        mark = {True: "[green]met[/green]", False: "[red]missed[/red]", None: "—"}[target["met"]]
        console.print(f"  target {target['target']}: {_num(target['value'], 2)} {mark}")
    machine = report.machine
    console.print(f"machine: {machine.get('logical_cores')} cores ({machine.get('cpu_model')}), "
                  f"load at start {machine.get('load_average_at_start')}, Kafka heap "
                  f"{machine.get('kafka', {}).get('kafka_heap_mb')} MB, Triton "
                  f"{machine.get('triton', {}).get('model_instances')} CPU instance(s); {machine.get('note')}")


def write_json(report: BenchReport, path: Path) -> None:
    """Write the ``--json`` document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2))


def write_chart(report: BenchReport, path: Path) -> None:
    """Two panels: saturated throughput (log scale) and p50/p95/p99 latency at the paced rate."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    rows = report.rows
    names = [row.name for row in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    rates = [row.events_per_s or 0 for row in rows]
    left.barh(names, rates, color="#4C72B0")
    left.set_xscale("log")
    left.set_xlabel("events/s (saturated; Triton ceiling: events of the batches it sent), log scale")
    left.invert_yaxis()
    for y, rate in enumerate(rates):
        if rate:
            left.text(rate, y, f" {rate:,.0f}", va="center", fontsize=8)
    latency_rows = [row for row in rows if row.p50_ms is not None]
    width = 0.27
    for offset, (label, attr) in enumerate((("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))):
        values = [getattr(row, attr) for row in latency_rows]
        right.bar([i + (offset - 1) * width for i in range(len(latency_rows))], values, width, label=label)
    right.set_xticks(range(len(latency_rows)), [row.name for row in latency_rows], rotation=20, ha="right")
    right.set_yscale("log")
    right.set_ylabel("produce → output ms at 50% of own max (log)")
    right.legend()
    cores = report.machine.get("logical_cores")
    fig.suptitle(f"streaminfer bench {report.settings.get('pipeline') or ''} — "
                 f"{report.settings.get('events'):,} events, {cores} shared cores, "
                 f"Triton CPU x{report.machine.get('triton', {}).get('model_instances')}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
