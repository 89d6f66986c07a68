"""The "champion vs challengers" panel of the live view, and the same standings at the end of the demo."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table

from engine.observe.shadow_board import CHAMPION, LOWER_IS_BETTER, Comparison, ShadowBoard

SPARKS = "▁▂▃▄▅▆▇█"
METRIC_NAMES = {"roc_auc": "ROC AUC", "log_loss": "log loss", "accuracy": "accuracy"}
#: Smallest value range one trend line spans: a steady model draws a flat line, not magnified noise.
MIN_TREND_SPAN = {"roc_auc": 0.05, "log_loss": 0.02, "accuracy": 0.02}


def sparkline(series: Sequence[tuple[float, float]], start: float, end: float, width: int,
              low: float, high: float, mark: float | None = None) -> str:
    """``width`` characters over [start, end], each the last value at or before its slot's end.

    Args:
        series: (time, value) pairs in time order.
        start: Time of the first slot's start.
        end: Time of the last slot's end.
        width: Number of slots.
        low: Value drawn as the lowest block.
        high: Value drawn as the highest block.
        mark: A time to show as ``│`` between slots (the drift moment), if inside the range.
    """
    span = max(end - start, 1e-9)
    scale = max(high - low, 1e-12)
    chars, i, value = [], 0, None
    marked = mark is None or not start <= mark <= end
    for slot in range(width):
        slot_end = start + span * (slot + 1) / width
        if not marked and mark <= slot_end - span / width:
            chars.append("│")
            marked = True
        while i < len(series) and series[i][0] <= slot_end:
            value = series[i][1]
            i += 1
        if value is None:
            chars.append(" ")
        else:
            level = round((value - low) / scale * (len(SPARKS) - 1))
            chars.append(SPARKS[min(len(SPARKS) - 1, max(0, level))])
    if not marked:
        chars.append("│")
    return "".join(chars)


def _label(board: ShadowBoard, model: str) -> str:
    latest = board.latest
    return f"champion {latest.champion}" if model == CHAMPION and latest else model


def _digits(metric: str) -> int:
    return 4 if metric in LOWER_IS_BETTER else 3


def _fmt(value: float | None, digits: int, sign: bool = False) -> str:
    return "-" if value is None else f"{value:{'+' if sign else ''}.{digits}f}"


def _with_change(metric: str, now: float | None, before: float | None) -> str:
    """``0.842 -0.092`` with the change coloured by whether it is an improvement."""
    digits = _digits(metric)
    if now is None or before is None or abs(now - before) < 10 ** -digits:
        return _fmt(now, digits)
    change = now - before
    better = change < 0 if metric in LOWER_IS_BETTER else change > 0
    return f"{_fmt(now, digits)} [{'green' if better else 'red'}]{change:+.{digits}f}[/]"


def _value(comparison: Comparison | None, model: str, metric: str) -> float | None:
    standing = comparison.models.get(model) if comparison else None
    return standing.metric(metric) if standing else None


def _trend(board: ShadowBoard, model: str, width: int) -> str:
    """The compared metric over the run, scaled per model (at least ``MIN_TREND_SPAN`` tall)."""
    series = board.series(model, board.metric)
    if not series:
        return ""
    values = [v for _, v in series]
    middle = (max(values) + min(values)) / 2
    half = max(max(values) - min(values), MIN_TREND_SPAN.get(board.metric, 0.0)) / 2
    return sparkline(series, board.comparisons[0].at, board.latest.at, width, middle - half, middle + half,
                     board.drift_at)


def _lead(board: ShadowBoard, model: str) -> str:
    """A challenger's lead over the champion now, green once it reaches the margin; a star once it won."""
    if model == CHAMPION:
        return ""
    lead = board.lead(board.latest, model)
    text = _fmt(lead, _digits(board.metric), sign=True)
    if lead is not None and lead >= board.margin:
        text = f"[green]{text}[/]"
    return text + (" [bold green]★[/]" if model in board.wins else "")


def _caption(board: ShadowBoard) -> str:
    champion = board.latest.models[CHAMPION]
    compared = METRIC_NAMES.get(board.metric, board.metric)
    rule = "lower" if board.metric in LOWER_IS_BETTER else "higher"
    return (f"[bold]champion vs challengers[/] · same last {champion.labels:,} labels ({champion.positives} positives)"
            f" · a challenger wins with a {compared} {rule} by ≥ {board.margin:g} (lead)")


def render_shadow(board: ShadowBoard, width: int = 10) -> Group | str:
    """The panel: per model ROC AUC and log loss now (change since the drift), trend, lead over the champion."""
    latest = board.latest
    if latest is None:
        return "[dim]champion vs challengers: waiting for the learner's first comparison …[/]"
    table = Table(box=None, header_style="dim", padding=(0, 1))
    for header in ("model", "ROC AUC", "log loss", f"{METRIC_NAMES.get(board.metric, board.metric)} trend", "lead"):
        table.add_column(header, no_wrap=True)
    for model in latest.models:
        table.add_row(_label(board, model),
                      _with_change("roc_auc", _value(latest, model, "roc_auc"), board.baseline(model, "roc_auc")),
                      _with_change("log_loss", _value(latest, model, "log_loss"), board.baseline(model, "log_loss")),
                      _trend(board, model, width), _lead(board, model))
    notes = "changes: against the mean before the drift knob turned (│ in the trend); ★ challenger_wins fired" \
        if board.before_drift else "│ in the trend: the drift knob turning; ★ challenger_wins fired"
    return Group(_caption(board), table, f"[dim]{notes}[/]")


def summary_table(board: ShadowBoard) -> Table | str:
    """End of the demo: each model before the drift (mean) and at the end; each challenger's lead."""
    latest = board.latest
    if latest is None:
        return "champion vs challengers: no comparison arrived from the learner"
    digits = _digits(board.metric)
    table = Table(title=_caption(board), title_justify="left", box=None, header_style="dim", padding=(0, 1),
                  pad_edge=False)
    for header in ("model", "ROC AUC\nbefore → end", "log loss\nbefore → end", "lead\nbefore → best after → end"):
        table.add_column(header, no_wrap=True)
    for model in latest.models:
        cells = [f"{_fmt(board.baseline(model, m), _digits(m))} → {_fmt(_value(latest, model, m), _digits(m))}"
                 for m in ("roc_auc", "log_loss")]
        lead = "" if model == CHAMPION else " → ".join(
            _fmt(v, digits, sign=True) for v in (board.baseline_lead(model), board.best_lead_after_drift(model),
                                                 board.lead(latest, model)))
        table.add_row(_label(board, model), *cells, lead)
    return table


def win_lines(board: ShadowBoard) -> list[str]:
    """Whether ``challenger_wins`` fired, with each alert's own summary."""
    if not board.wins:
        return ["challenger_wins did not fire"]
    return [f"challenger_wins fired: {summary}" for summary in board.wins.values()]
