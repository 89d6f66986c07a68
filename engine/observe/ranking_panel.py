"""A ranking learner in the live view: the champion judged by feedback, champion vs challengers, the catalog
mix and the alerts as they land — and the same figures before and after the drift at the end of the demo.

Everything shown is what ``streaminfer learn`` exports itself: its ``/metrics`` gauges (read by
:func:`engine.observe.learn_scrape.parse_learner`: ``streaminfer_learn_model_metric{model,metric}``,
``..._model_samples``, ``..._joined_total``, ``..._catalog``) and the alerts topic. The champion's figures
(``model="champion"``) are over its last ``ranking.window`` judged lists; the paired ones
(``champion_paired`` and each challenger) over the requests the challengers re-ranked, position-debiased
from the champion's impressions. Nothing is recomputed here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from engine.observe.learn_scrape import LearnerSnapshot
from engine.observe.shadow_panel import sparkline

CHAMPION = "champion"
PAIRED = "champion_paired"
#: Figures where lower is better (everything else ranked here is higher-is-better, or neutral below).
LOWER_IS_BETTER = frozenset({"log_loss"})
#: Figures with no better direction: a change is shown uncoloured.
NEUTRAL_PREFIXES = ("overlap@", "rank_corr", "coverage", "new_item_share", "gini", "item_mix_divergence",
                    "mean_popularity_rank", "requests")
#: Smallest value range the CTR trend line spans: a steady champion draws a flat line, not magnified noise.
MIN_TREND_SPAN = 0.01


@dataclass(frozen=True, slots=True)
class LandedAlert:
    """One alert of the pipeline, as it reached the demo."""

    at: float          # time.monotonic() when it landed
    kind: str
    severity: str
    subject: str
    summary: str
    stage: str = ""    # concept drift: detected (warning) or confirmed (the page)

    @classmethod
    def of(cls, alert: dict[str, Any], at: float) -> LandedAlert:
        """From an alerts-topic record."""
        evidence = alert.get("evidence") or {}
        return cls(at, str(alert.get("kind", "?")), str(alert.get("severity", "?")), str(alert.get("subject", "?")),
                   str(evidence.get("summary", "")), str(evidence.get("stage", "") or ""))


@dataclass
class RankingBoard:
    """What the demo knows about a ranking learner: its scrapes, the pipeline's alerts, the drift moment.

    Attributes:
        pipeline: Alerts of other pipelines are ignored.
        k: Cut-off of the learner's top-k figures (``ctr@10`` …).
        snapshots: The learner's scrapes (None-free), oldest first.
        alerts: The pipeline's alerts in arrival order.
        started_at: When the traffic started (``time.monotonic()``), None before.
        drift_at: When the traffic's drift knob turned (``time.monotonic()``), None before.
        drift_to: Where it turned to.
        traffic: What the traffic source reported so far (requests, ranked, impressions, clicks).
        metric, margin: The learner's comparison rule (challenger ≥ (1 + margin) × champion on ``metric@k``).
    """

    pipeline: str = "recs"
    k: int = 10
    snapshots: deque[LearnerSnapshot] = field(default_factory=lambda: deque(maxlen=3000))
    alerts: list[LandedAlert] = field(default_factory=list)
    started_at: float | None = None
    drift_at: float | None = None
    drift_to: float | None = None
    traffic: dict[str, float] = field(default_factory=dict)
    metric: str = "ips_ctr"
    margin: float = 0.05

    # --- input --------------------------------------------------------------------------------------------

    def add(self, snap: LearnerSnapshot | None) -> None:
        """Keep a scrape (None: the learner did not answer, ignored)."""
        if snap is not None:
            self.snapshots.append(snap)

    def add_alert(self, alert: dict[str, Any], at: float) -> LandedAlert | None:
        """Keep an alert of this pipeline; None (ignored) for other pipelines' alerts."""
        if alert.get("pipeline") != self.pipeline:
            return None
        landed = LandedAlert.of(alert, at)
        self.alerts.append(landed)
        return landed

    # --- figures ------------------------------------------------------------------------------------------

    @property
    def latest(self) -> LearnerSnapshot | None:
        """The newest scrape."""
        return self.snapshots[-1] if self.snapshots else None

    def name(self, metric: str) -> str:
        """``ctr`` → ``ctr@10``; names with their own cut-off or none (``mrr``, ``log_loss``) unchanged."""
        return f"{metric}@{self.k}" if metric in ("ctr", "ndcg", "hr", "ips_ctr", "ips_dcg", "overlap") else metric

    def value(self, model: str, metric: str, snap: LearnerSnapshot | None = None) -> float | None:
        """``metric`` (short or full name) of ``model`` at ``snap`` (the latest by default)."""
        snap = snap or self.latest
        return None if snap is None else snap.metric(model, self.name(metric))

    def catalog(self, figure: str, snap: LearnerSnapshot | None = None) -> float | None:
        """A catalog figure (coverage, new_item_share, gini, …) at ``snap`` (the latest by default)."""
        snap = snap or self.latest
        return None if snap is None else snap.catalog.get(figure)

    def challengers(self) -> list[str]:
        """Challenger names, as the learner exports them (sorted)."""
        snap = self.latest
        return sorted(m for m in (snap.models if snap else {}) if m not in (CHAMPION, PAIRED))

    def settled_before_drift(self, model: str = CHAMPION) -> list[LearnerSnapshot]:
        """Scrapes before the drift whose ``model`` window was as full as it got before it (all windows are
        rolling: early ones, still filling, would drag a "before" figure towards the warm-up)."""
        if self.drift_at is None:
            return []
        before = [s for s in list(self.snapshots) if s.at < self.drift_at and s.metric(model, "requests")]
        full = max((s.metric(model, "requests") or 0.0 for s in before), default=0.0)
        return [s for s in before if (s.metric(model, "requests") or 0.0) >= full]

    def before(self, model: str, metric: str) -> float | None:
        """Mean of ``metric`` of ``model`` over :meth:`settled_before_drift`."""
        return _mean(self.value(model, metric, s) for s in self.settled_before_drift(model))

    def catalog_before(self, figure: str) -> float | None:
        """Mean of a catalog figure over the champion's settled scrapes before the drift."""
        return _mean(s.catalog.get(figure) for s in self.settled_before_drift(CHAMPION))

    def series(self, model: str, metric: str) -> list[tuple[float, float]]:
        """(scraped at, value) of one model's metric, where exported."""
        name = self.name(metric)
        return [(s.at, v) for s in list(self.snapshots) if (v := s.metric(model, name)) is not None]

    def since_drift(self, at: float) -> float | None:
        """Seconds from the drift knob to ``at`` (negative: before it); None before the knob turned."""
        return None if self.drift_at is None else at - self.drift_at

    def lead(self, model: str, snap: LearnerSnapshot | None = None) -> float | None:
        """``model``'s compared metric over the paired champion's, minus 1 (it wins at ``margin``)."""
        mine, champion = self.value(model, self.metric, snap), self.value(PAIRED, self.metric, snap)
        if mine is None or not champion:
            return None
        return mine / champion - 1.0


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _fmt(value: float | None, digits: int = 3, sign: bool = False) -> str:
    return "-" if value is None else f"{value:{'+' if sign else ''}.{digits}f}"


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _with_change(metric: str, now: float | None, before: float | None, digits: int = 3) -> str:
    """``0.061 -0.021``: the change against the before-drift mean, green/red where a direction is known."""
    if now is None or before is None or abs(now - before) < 10 ** -digits:
        return _fmt(now, digits)
    change = now - before
    if metric.startswith(NEUTRAL_PREFIXES):
        return f"{_fmt(now, digits)} [dim]{change:+.{digits}f}[/]"
    better = change < 0 if metric in LOWER_IS_BETTER else change > 0
    return f"{_fmt(now, digits)} [{'green' if better else 'red'}]{change:+.{digits}f}[/]"


def _trend(board: RankingBoard, width: int) -> str:
    series = board.series(CHAMPION, "ctr")
    if len(series) < 2:
        return ""
    values = [v for _, v in series]
    middle = (max(values) + min(values)) / 2
    half = max(max(values) - min(values), MIN_TREND_SPAN) / 2
    return sparkline(series, series[0][0], series[-1][0], width, middle - half, middle + half, board.drift_at)


def learner_line(board: RankingBoard) -> str:
    """Feedback read, lists judged (complete / partial), lag."""
    snap = board.latest
    if snap is None:
        return "[bold]learner[/]  waiting for its /metrics …"
    partial = snap.joined_by.get("partial", 0.0)
    return (f"[bold]learner[/]  {snap.records.get('labels', 0.0):,.0f} feedback records read · "
            f"{snap.joined:,.0f} lists judged ({snap.joined - partial:,.0f} complete, {partial:,.0f} partial) · "
            f"lag {snap.total_lag:,.0f}")


def traffic_line(board: RankingBoard, now: float | None = None) -> str:
    """What the simulated users did, and the drift knob."""
    t = board.traffic
    if not t:
        return "[bold]users[/]  waiting for the traffic to start …"
    impressions, clicks = t.get("impressions", 0.0), t.get("clicks", 0.0)
    ctr = f" ({clicks / impressions:.1%})" if impressions else ""
    knob = ""
    if board.drift_at is not None:
        ago = "" if now is None else f", {now - board.drift_at:.0f}s ago"
        knob = f" · [magenta]drift knob → {board.drift_to:g}{ago}[/]"
    return (f"[bold]users[/]  {t.get('requests', 0):,.0f} requests sent, {t.get('ranked', 0):,.0f} rankings "
            f"received · {impressions:,.0f} impressions, {clicks:,.0f} clicks{ctr}{knob}")


def champion_line(board: RankingBoard, width: int = 16) -> str:
    """The champion over its last ``window`` judged lists: CTR@k, NDCG@k, HR@k (change since the drift), trend."""
    window = board.value(CHAMPION, "requests")
    if window is None:
        return "[bold]champion[/]  waiting for the first judged lists …"
    cells = [f"{label} {_with_change(board.name(m), board.value(CHAMPION, m), board.before(CHAMPION, m))}"
             for m, label in (("ctr", f"CTR@{board.k}"), ("ndcg", f"NDCG@{board.k}"), ("hr", f"HR@{board.k}"))]
    trend = _trend(board, width)
    return (f"[bold]champion[/] (last {window:,.0f} judged lists)  " + "   ".join(cells)
            + (f"   CTR trend {trend}" if trend else ""))


def shadow_table(board: RankingBoard) -> RenderableType:
    """Champion vs challengers on the same re-ranked requests."""
    paired = board.value(PAIRED, "requests")
    if paired is None:
        return "[dim]champion vs challengers: waiting for the first re-ranked lists …[/]"
    m = board.name(board.metric)
    table = Table(box=None, header_style="dim", padding=(0, 1))
    for header in ("model", m, board.name("overlap"), "rank corr", "log loss", "learned", "lead"):
        table.add_column(header, no_wrap=True)
    for model in (PAIRED, *board.challengers()):
        lead = board.lead(model)
        lead_text = "" if model == PAIRED or lead is None else f"{lead:+.1%}"
        if model != PAIRED and lead is not None and lead >= board.margin:
            lead_text = f"[green]{lead_text}[/]"
        if any(a.kind == "challenger_wins" and a.subject == model for a in board.alerts):
            lead_text += " [bold green]★[/]"
        samples = (board.latest.samples.get(model) if board.latest else None)
        table.add_row("champion" if model == PAIRED else model,
                      _with_change(m, board.value(model, board.metric), board.before(model, board.metric)),
                      "" if model == PAIRED else _fmt(board.value(model, "overlap")),
                      "" if model == PAIRED else _fmt(board.value(model, "rank_corr")),
                      _fmt(board.value(model, "log_loss"), 4), "-" if samples is None else f"{samples:,.0f}",
                      lead_text)
    caption = (f"[bold]champion vs challengers[/] · the same last {paired:,.0f} re-ranked requests, position-debiased"
               f" · a challenger wins at {m} ≥ {1 + board.margin:g}× the champion's")
    return Group(caption, table)


def catalog_line(board: RankingBoard) -> str:
    """Coverage, new-item share and concentration of what the champion showed (change since the drift)."""
    if board.catalog("coverage") is None and board.catalog("new_item_share") is None:
        return "[bold]catalog[/]  waiting …"
    parts = [f"coverage {_with_change('coverage', board.catalog('coverage'), board.catalog_before('coverage'))}",
             f"new-item share {_with_change('new_item_share', board.catalog('new_item_share'), board.catalog_before('new_item_share'))}",
             f"gini {_fmt(board.catalog('gini'))}"]
    return "[bold]catalog[/]  " + " · ".join(parts)


def alert_line(board: RankingBoard, alert: LandedAlert, width: int = 140) -> str:
    """``+12.3s concept_drift (critical) recs:ctr@10: …`` — the time against the drift knob (before it turns:
    ``@4.0s``, since the traffic started)."""
    since = board.since_drift(alert.at)
    if since is not None:
        when = f"{since:+6.1f}s"
    elif board.started_at is not None:
        when = f"@{alert.at - board.started_at:5.1f}s"
    else:
        when = "      -"
    colour = {"critical": "red", "warning": "yellow"}.get(alert.severity, "cyan")
    return (f"[{colour}]{when} {alert.kind} ({alert.severity}) {alert.subject}:[/] {alert.summary[:width]}")


def render_ranking(board: RankingBoard, now: float | None = None, alerts: int = 4) -> Group:
    """The learner's part of the live view."""
    parts: list[RenderableType] = [learner_line(board), traffic_line(board, now), champion_line(board),
                                   shadow_table(board), catalog_line(board)]
    if board.alerts:
        clock = "time against the drift knob" if board.drift_at is not None else "time since the users started"
        parts.append(f"[bold]alerts[/] ({len(board.alerts)} on the alerts topic for {board.pipeline}; {clock})")
        parts += [alert_line(board, a) for a in board.alerts[-alerts:]]
    else:
        parts.append(f"[dim]alerts: none yet for {board.pipeline}[/]")
    return Group(*parts)


def _before_after(metric: str, before: float | None, after: float | None, digits: int = 3) -> str:
    if before is None or after is None:
        return f"{_fmt(before, digits)} → {_fmt(after, digits)}"
    # Relative only from a before that shows in the digits, and only when it moved.
    relative = f" ({after / before - 1:+.0%})" if abs(before) >= 10 ** -digits and abs(after / before - 1) >= 0.005 \
        else ""
    return f"{_fmt(before, digits)} → {_with_change(metric, after, before, digits)}{relative}"


def summary(board: RankingBoard) -> list[RenderableType]:
    """End of the demo: figures before the drift (settled mean) and at the end; which alerts fired, when."""
    snap = board.latest
    if snap is None:
        return ["ranking learner: it never answered on /metrics"]
    table = Table(box=None, header_style="dim", padding=(0, 1), pad_edge=False)
    table.add_column("figure", no_wrap=True)
    table.add_column("before → end", no_wrap=True)
    for metric, label in (("ctr", "CTR"), ("ndcg", "NDCG"), ("hr", "HR")):
        name = board.name(metric)
        table.add_row(f"champion {label}@{board.k}",
                      _before_after(name, board.before(CHAMPION, metric), board.value(CHAMPION, metric)))
    m = board.name(board.metric)
    for model in (PAIRED, *board.challengers()):
        label = "champion" if model == PAIRED else model
        table.add_row(f"{label} {m}",
                      _before_after(m, board.before(model, board.metric), board.value(model, board.metric)))
    for model in board.challengers():
        name = board.name("overlap")
        table.add_row(f"{model} {name}", _before_after(name, board.before(model, "overlap"), board.value(model, "overlap")))
    for figure in ("coverage", "new_item_share"):
        table.add_row(f"catalog {figure.replace('_', ' ')}", _before_after(figure, board.catalog_before(figure), board.catalog(figure)))
    partial = snap.joined_by.get("partial", 0.0)
    lines: list[RenderableType] = [
        f"judged {snap.joined:,.0f} lists ({partial:,.0f} partial) from {snap.records.get('labels', 0.0):,.0f} "
        f"feedback records; challengers learned "
        + (", ".join(f"{m} {snap.samples.get(m, 0):,.0f}" for m in board.challengers()) or "nothing"),
        "before: the mean over the full windows before the drift knob; end: the last windows of the run",
        table]
    if board.alerts:
        kinds: dict[str, int] = {}
        for alert in board.alerts:
            kinds[alert.kind] = kinds.get(alert.kind, 0) + 1
        lines.append(f"alerts for {board.pipeline}: {len(board.alerts)} "
                     f"({', '.join(f'{kind} {n}' for kind, n in kinds.items())}); first of each kind and stage:")
        seen: set[tuple[str, str, str]] = set()
        for alert in board.alerts:
            key = (alert.kind, alert.stage, alert.subject)
            if key not in seen:
                seen.add(key)
                lines.append("  " + alert_line(board, alert, 110))
    else:
        lines.append(f"alerts for {board.pipeline}: none fired")
    if not any(a.kind == "challenger_wins" for a in board.alerts):
        lines.append("challenger_wins did not fire")
    return lines
