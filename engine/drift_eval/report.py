"""Drift report: a text table for the terminal and a PNG (signal, true drifts, alerts) per stream type."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.drift_eval.scoring import StreamScore
from engine.drift_eval.signals import SignalTrace


def table(summaries: dict[str, dict[str, dict]]) -> str:
    """detector → kind → summary, as aligned text."""
    lines = [f"{'detector':28s} {'streams':>12s} {'detected':>10s} {'rate':>6s} {'mean delay':>10s} "
             f"{'max delay':>9s} {'false alarms':>12s} {'per 100k':>8s}"]
    for detector, by_kind in summaries.items():
        for kind, s in by_kind.items():
            rate = "-" if s["detection_rate"] is None else f"{s['detection_rate']:.1%}"
            mean = "-" if s["mean_delay"] is None else f"{s['mean_delay']:.0f}"
            worst = "-" if s["max_delay"] is None else f"{s['max_delay']}"
            lines.append(f"{detector[:28]:28s} {kind + ' ×' + str(s['streams']):>12s} "
                         f"{str(s['detected']) + '/' + str(s['drifts']):>10s} {rate:>6s} {mean:>10s} {worst:>9s} "
                         f"{s['false_alarms']:>12d} {s['false_alarms_per_100k']:>8.2f}")
        causes = by_kind.get("all", {}).get("false_alarm_causes")
        if causes:
            lines.append(f"{'':28s} false alarms by cause: " + ", ".join(f"{k} {v}" for k, v in causes.items()))
    return "\n".join(lines)


def plot(path: Path, traces: Sequence[SignalTrace], scores: Sequence[StreamScore],
         river: dict[tuple[str, str], list[int]], smooth: int = 500) -> Path:
    """One panel per (generator, kind) — its first seed — for the first detector.

    Rolling error rate of the signal, true drift transitions (shaded), alerts that came back through
    Kafka (red triangles) and the direct River run's alerts (black ticks: they should coincide).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first_detector = scores[0].detector if scores else ""
    shown, seen = [], set()
    for trace in traces:
        group = (trace.spec.generator, trace.spec.kind)
        if group not in seen:
            seen.add(group)
            shown.append(trace)
    fig, axes = plt.subplots(len(shown), 1, figsize=(12, 2.3 * max(1, len(shown))), squeeze=False)
    by_key = {(s.stream, s.detector): s for s in scores}
    for ax, trace in zip(axes[:, 0], shown):
        errors = trace.errors.astype(np.float64)
        k = max(1, min(smooth, len(errors)))
        rolling = np.convolve(errors, np.ones(k) / k, mode="valid")  # trailing mean: no edge artefacts
        ax.plot(np.arange(k - 1, len(errors)), rolling, lw=0.8, color="tab:blue",
                label=f"error rate (last {k} events)")
        for drift in trace.drifts:
            ax.axvspan(drift.start, max(drift.end, drift.start + len(errors) // 400), color="tab:orange", alpha=0.3)
            ax.axvline(drift.centre, color="tab:orange", lw=1)
        score = by_key.get((trace.name, first_detector))
        top = ax.get_ylim()[1]
        if score is not None:
            ax.plot(score.alerts, [top * 0.95] * len(score.alerts), "v", color="red", label="alert via Kafka")
        direct = river.get((trace.name, first_detector), [])
        ax.plot(direct, [top * 0.85] * len(direct), "|", color="black", ms=10, label="alert, direct River run")
        ax.set_title(f"{trace.name} — {first_detector}", fontsize=9)
        ax.set_xlim(0, len(errors))
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("event")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def trace_table(summary: dict) -> str:
    """The table of a plugin-trace run: figures in its unit, per detector and kind, then per drift kind,
    then the targets."""
    unit = summary["units"]["delay"]
    per = f"per 1M {unit[:4]}."
    lines = [f"{'detector':28s} {'streams':>22s} {'detected':>9s} {'rate':>6s} {'mean delay':>10s} "
             f"{'max delay':>9s} {'false alarms':>12s} {per:>12s} {'undrifted':>9s} {per:>12s}",
             f"{'':28s} {'':>22s} {'':>9s} {'':>6s} {'(' + unit + ')':>20s} {'(all)':>25s} "
             f"{'(alarms)':>9s} {'(undrifted)':>12s}"]

    def row(label: str, kind: str, s: dict) -> str:
        rate = "-" if s["detection_rate"] is None else f"{s['detection_rate']:.1%}"
        mean = "-" if s["mean_delay"] is None else f"{s['mean_delay']:.0f}"
        worst = "-" if s["max_delay"] is None else f"{s['max_delay']}"
        every = s[f"false_alarms_per_1m_{unit}_all"]
        quiet = s[f"false_alarms_per_1m_{unit}"]
        streams, detected = f"{kind} ×{s['streams']}", f"{s['detected']}/{s['drifts']}"
        return (f"{label[:28]:28s} {streams:>22s} {detected:>9s} "
                f"{rate:>6s} {mean:>10s} {worst:>9s} {s['false_alarms']:>12d} "
                f"{'-' if every is None else f'{every:.2f}':>12s} {s['false_alarms_undrifted']:>9d} "
                f"{'-' if quiet is None else f'{quiet:.2f}':>12s}")

    for detector, by_kind in summary["by_detector"].items():
        for kind, s in by_kind.items():
            lines.append(row(detector, kind, s))
        causes = by_kind.get("all", {}).get("false_alarm_causes")
        if causes:
            lines.append(f"{'':28s} false alarms by cause: " + ", ".join(f"{k} {v}" for k, v in causes.items()))
    lines.append("")
    lines.append("by drift kind:")
    for detector, families in summary["by_drift_kind"].items():
        for family, by_kind in families.items():
            for kind, s in by_kind.items():
                lines.append(row(detector, f"{family} {kind}", s))
    lines.append("")
    lines.append(f"targets ({summary['headline']['detector']}):")
    for key, target in summary["targets"].items():
        measured = target["measured"]
        shown = "-" if measured is None else (f"{measured:.1%}" if key == "detection_rate" else f"{measured:,.2f}")
        verdict = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
        lines.append(f"  {key:32s} {target['target']:>7s}  {shown:>9s}  {verdict:12s} ({target['about']})")
    return "\n".join(lines)


def plot_traces(path: Path, traces: Sequence, scores: Sequence[StreamScore], river: dict[tuple[str, str], list[int]],
                headline: str, unit: str, smooth: int = 500) -> Path:
    """One panel per (drift kind, kind) — its first seed: the first signal's rolling mean over the unit
    clock, the true drift (shaded), the headline's alerts via Kafka (red) and the direct run's (black)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    watched = sorted({detector for _, detector in river})
    shown, seen = [], set()
    for trace in traces:
        group = (trace.spec.generator, trace.spec.kind)
        if group not in seen:
            seen.add(group)
            shown.append(trace)
    fig, axes = plt.subplots(len(shown), 1, figsize=(12, 2.3 * max(1, len(shown))), squeeze=False)
    by_key = {(s.stream, s.detector): s for s in scores}
    for ax, trace in zip(axes[:, 0], shown):
        signal = next(iter(trace.signals))
        values = np.asarray(trace.signals[signal], np.float64)
        k = max(1, min(smooth, len(values)))
        rolling = np.convolve(values, np.ones(k) / k, mode="valid")
        ax.plot(trace.clock[k - 1:], rolling, lw=0.8, color="tab:blue", label=f"{signal} (last {k} steps)")
        for drift in trace.drifts:
            ax.axvspan(drift.start, max(drift.end, drift.start + trace.n_units // 400), color="tab:orange", alpha=0.3)
            ax.axvline(drift.start, color="tab:orange", lw=1)
        score = by_key.get((trace.name, headline))
        top = ax.get_ylim()[1]
        if score is not None:
            ax.plot(score.alerts, [top * 0.95] * len(score.alerts), "v", color="red", label="alert via Kafka")
        direct = sorted(a for detector in watched for a in river.get((trace.name, detector), []))
        ax.plot(direct, [top * 0.85] * len(direct), "|", color="black", ms=10, label="alert, direct run")
        ax.set_title(f"{trace.name} — {headline}", fontsize=9)
        ax.set_xlim(0, trace.n_units)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel(unit)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
