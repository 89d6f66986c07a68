"""How often does concept drift warn, and page, on the champion's own labels?
``python -m models.fraud.learning.concept_probe``.

(Prediction drift — the detector over every score — is counted on the same streams, for comparison.)

The learner's concept-drift path — its error and log-loss detectors and their change confirmers, built
from the pipeline's learn settings and fed in the order ``LearnCore._on_joined`` feeds them — runs over
the served champion's 0/1 errors and log loss on synthetic fraud streams (the generator's warm-up
first), scored in-process:

- ``--undrifted-seeds`` streams of ``--events`` events with the drift knob at 0: every finding is a
  warning nobody needed, every confirmed one a false page;
- ``--drift-seeds`` streams of ``--drift-events`` events with the knob turned to 1.0 halfway: how many
  labels after the drift the first finding comes, and whether it is confirmed.

``--prior-correction`` scores with the champion's logit shifted by ``-log(pos_weight)`` (its training
class weight, from ``metadata.json``): calibrated scores, to see what calibrating the champion would do
to paging before anyone ships it. Labels are taken in event order, all of them (join sample 100 %).
Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.learn.metrics import binary_log_losses
from engine.learn.settings import LearnSettings, load_learn_settings
from models.fraud.features import FEATURE_NAMES, FraudFeatures


@dataclass
class SignalOutcome:
    """One signal's findings (label index) and the verdicts on those that were judged."""

    findings: list[int] = field(default_factory=list)
    judged: list[tuple[int, float, bool]] = field(default_factory=list)  # (finding index, ratio, confirmed)

    def pages(self, start: int = 0, end: int = 1 << 62) -> list[tuple[int, float, bool]]:
        """Confirmed verdicts on findings made in ``[start, end)``."""
        return [j for j in self.judged if j[2] and start <= j[0] < end]


def champion_signals(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """The champion's 0/1 errors and log loss per label, as ``LearnCore`` computes them."""
    return {"error_rate": ((scores >= threshold) != (labels == 1)).astype(np.int64),
            "log_loss": binary_log_losses(labels, scores)}


def prediction_findings(scores: np.ndarray, settings: LearnSettings) -> list[int]:
    """Where the prediction-drift detector (over every score, as the learner runs it) finds a change."""
    from engine.learn.signals import DetectorSet

    monitor = DetectorSet.build(settings, FEATURE_NAMES).prediction
    if monitor is None:
        return []
    return [i for i, score in enumerate(scores.tolist()) if monitor.update(score, i, i) is not None]


def judge(signals: dict[str, np.ndarray], settings: LearnSettings) -> dict[str, SignalOutcome]:
    """Run the configured concept-drift detectors and confirmers over each signal."""
    from engine.learn.signals import DetectorSet

    detectors = DetectorSet.build(settings, FEATURE_NAMES)
    outcomes: dict[str, SignalOutcome] = {}
    for monitor in (detectors.concept_error, detectors.concept_loss):
        if monitor is None:
            continue
        outcome = outcomes[monitor.signal] = SignalOutcome()
        confirmer = detectors.confirmers.get(monitor.signal)
        on_probation: int | None = None
        for index, value in enumerate(signals[monitor.signal].tolist()):
            if confirmer is not None:  # as LearnCore: the pending change is judged before the detector moves
                verdict = confirmer.update(value)
                if verdict is not None:
                    outcome.judged.append((on_probation, verdict.ratio, verdict.confirmed))
            finding = monitor.update(value, index, index)
            if finding is not None:
                outcome.findings.append(index)
                if confirmer is not None and confirmer.start(finding):
                    on_probation = index
    return outcomes


def scored_stream(seed: int, before: int, after: int, model, pos_weight: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Labels and champion scores of one stream; the drift knob goes to 1.0 after ``before`` events."""
    from models.fraud.learning.challenger_replay import drifting_events, prior_corrected
    from models.torchscript import score_in_process

    events, labels = drifting_events(seed, before, after)
    scores = score_in_process(model, FraudFeatures().extract(events)).ravel().astype(np.float64)
    return labels, scores if pos_weight is None else prior_corrected(scores, pos_weight)


def _ratios(judged: Sequence[tuple[int, float, bool]]) -> str:
    return " ".join(f"{ratio:.2f}{'*' if confirmed else ''}" for _, ratio, confirmed in judged) or "—"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    from models.fraud.learning.challenger_replay import newest_model
    from engine.stack.settings import load_stack_settings
    from models.torchscript import load_torchscript

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--undrifted-seeds", type=int, default=4)
    parser.add_argument("--events", type=int, default=150_000, help="Events per undrifted stream.")
    parser.add_argument("--drift-seeds", type=int, default=6)
    parser.add_argument("--drift-events", type=int, default=60_000, help="Events per drifting stream.")
    parser.add_argument("--prior-correction", action="store_true", help="Score with the class weight removed.")
    parser.add_argument("--seed-base", type=int, default=100, help="Undrifted seeds base+1.., drifting base+101..: "
                        "choose settings on one base, check them on another.")
    parser.add_argument("--pipeline", default="fraud")
    parser.add_argument("--model", type=Path, help="Champion TorchScript (default: newest in the stack's repository).")
    args = parser.parse_args(argv)
    if min(args.undrifted_seeds, args.drift_seeds) < 0 or min(args.events, args.drift_events) < 10_000:
        parser.error("seed counts must be >= 0 and streams >= 10,000 events")

    settings = load_learn_settings(args.pipeline)
    model_path = args.model or newest_model(load_stack_settings().model_repository)
    model = load_torchscript(model_path)
    pos_weight = json.loads((model_path.parent / "metadata.json").read_text())["metrics"]["pos_weight"] \
        if args.prior_correction else None
    concept = settings.concept_drift
    print(f"champion {model_path}{'' if pos_weight is None else f', logit - log({pos_weight})'}; error detector "
          f"{concept.error_detector.kind} {concept.error_detector.params}, loss detector {concept.loss_detector.kind} "
          f"{concept.loss_detector.params}; a finding pages if the next {concept.confirm_labels:,} labels run "
          f">= {concept.confirm_ratio}x the mean before it (* = confirmed)")

    print(f"\nundrifted: {args.undrifted_seeds} seeds × {args.events:,} labels")
    print(f"{'seed':>4s} {'errors':>7s} {'log loss':>8s}  {'error findings':>14s} {'pages':>5s} {'ratios':18s}"
          f" {'loss findings':>13s} {'pages':>5s} {'ratios':18s} score findings")
    totals = np.zeros(5, dtype=np.int64)
    for seed in range(args.seed_base + 1, args.seed_base + 1 + args.undrifted_seeds):
        labels, scores = scored_stream(seed, args.events, 0, model, pos_weight)
        signals = champion_signals(labels, scores, concept.threshold)
        out = judge(signals, settings)
        err, loss = out["error_rate"], out["log_loss"]
        row = (len(err.findings), len(err.pages()), len(loss.findings), len(loss.pages()),
               len(prediction_findings(scores, settings)))
        totals += row
        print(f"{seed:>4d} {signals['error_rate'].mean():>7.4f} {signals['log_loss'].mean():>8.4f}  {row[0]:>14d} "
              f"{row[1]:>5d} {_ratios(err.judged):18s} {row[2]:>13d} {row[3]:>5d} {_ratios(loss.judged):18s} {row[4]}")
    print(f"all  {'':17s} {totals[0]:>14d} {totals[1]:>5d} {'':18s} {totals[2]:>13d} {totals[3]:>5d} {'':18s} "
          f"{totals[4]}")

    print(f"\ndrift knob to 1.0 after {args.drift_events // 2:,} of {args.drift_events:,} labels: "
          f"{args.drift_seeds} seeds (labels after the drift at the first finding; ratio of its verdict)")
    print(f"{'seed':>4s} {'errors before → after':>22s} {'loss before → after':>20s}  {'error: first':>12s} "
          f"{'ratio':>6s} {'pre-drift pages':>15s}  {'loss: first':>11s} {'ratio':>6s} {'pre-drift pages':>15s}"
          "  score findings before / after")
    for seed in range(args.seed_base + 101, args.seed_base + 101 + args.drift_seeds):
        cut = args.drift_events // 2
        labels, scores = scored_stream(seed, cut, args.drift_events - cut, model, pos_weight)
        signals = champion_signals(labels, scores, concept.threshold)
        out = judge(signals, settings)
        cells = []
        for name in ("error_rate", "log_loss"):
            outcome = out[name]
            first = next((f for f in outcome.findings if f >= cut), None)
            verdict = next((j for j in outcome.judged if j[0] == first), None)
            cells.append(f"{'—' if first is None else f'{first - cut:,}':>12s} "
                         f"{'—' if verdict is None else f'{verdict[1]:.2f}' + ('*' if verdict[2] else ''):>6s} "
                         f"{len(outcome.pages(0, cut)):>15d}")
        e, lo = signals["error_rate"], signals["log_loss"]
        score_changes = prediction_findings(scores, settings)
        before_after = f"{sum(i < cut for i in score_changes)} / {sum(i >= cut for i in score_changes)}"
        print(f"{seed:>4d} {e[:cut].mean():>10.4f} → {e[cut:].mean():.4f} {lo[:cut].mean():>9.4f} → "
              f"{lo[cut:].mean():.4f}  {cells[0]}  {cells[1]}  {before_after:>15s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
