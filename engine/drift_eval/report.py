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
