"""Can on-call trust ``challenger_wins``?
``python -m models.fraud.learning.challenger_replay [--seeds N] [--events N]``.

Replays the demo's story offline, once per generator seed: ``--events`` synthetic fraud events (after
the same warm-up as ``streaminfer generate``), the generator's drift knob turned to 1.0 after
``--drift-at`` of them, the served champion (the TorchScript file Triton loads) scoring every event in-process,
and the learner's own :class:`ShadowModels` (prequential challengers, rolling windows, ``compare()``)
judging each configured comparison rule. A verdict before the drift is a win nobody should have been
told about; one after it is the alert the demo wants. Labels are taken in event order (the live join
sees them in label-arrival order instead).

``--calibrated`` adds a counterfactual champion whose logit is shifted by ``-log(pos_weight)`` — the
prior correction that undoes the class weight the champion was trained with (``metadata.json``) — to
show how much of a log-loss "win" is the champion's calibration rather than the drift.

Prints tables; asserts nothing (benchmarks are commands, not tests).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.learn.metrics import binary_log_losses
from engine.learn.settings import ShadowSettings, load_learn_settings
from models.fraud.features import FEATURE_NAMES, FraudFeatures
from models.fraud.generator import FraudGenerator
from models.fraud.stream import WARMUP_EVENTS


@dataclass
class RuleOutcome:
    """Where one rule's verdicts fell, for one seed and one challenger."""

    wins_before: int = 0
    wins_after: int = 0
    first_after: int | None = None  # labels after the drift at the first post-drift verdict


def tally(verdict_at: Sequence[int], drift_at: int) -> RuleOutcome:
    """Split verdict positions (labels seen when the verdict came) at the drift."""
    outcome = RuleOutcome()
    for position in verdict_at:
        if position <= drift_at:
            outcome.wins_before += 1
        else:
            outcome.wins_after += 1
            if outcome.first_after is None:
                outcome.first_after = position - drift_at
    return outcome


def prior_corrected(scores: np.ndarray, pos_weight: float) -> np.ndarray:
    """Scores of a model trained with ``pos_weight`` on positives, mapped back to the training prior."""
    p = np.clip(scores.astype(np.float64), 1e-12, 1 - 1e-12)
    return 1.0 / (1.0 + np.exp(-(np.log(p / (1 - p)) - math.log(pos_weight))))


def log_loss(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean log loss."""
    return float(binary_log_losses(labels, scores).mean())


def drifting_events(seed: int, before: int, after: int) -> tuple[list[dict], np.ndarray]:
    """Events and labels as ``streaminfer generate`` starts (warmed up); the drift knob to 1.0 after ``before``."""
    generator = FraudGenerator(seed=seed)
    generator.batch(WARMUP_EVENTS)
    events, labels = generator.batch(before)
    if after:
        generator.set_drift(1.0)
        later, later_labels = generator.batch(after)
        events, labels = events + later, np.concatenate([labels, later_labels])
    return events, labels.astype(np.int64)


@dataclass
class Replay:
    """One seed's stream: labels, champion scores and where the drift was turned."""

    seed: int
    labels: np.ndarray
    rows: list[list[float]]
    drift_at: int
    champion: dict[str, np.ndarray] = field(default_factory=dict)


def make_replay(seed: int, events: int, drift_at: float, champion_model) -> Replay:
    """Generate the stream and score it with the champion."""
    from models.torchscript import score_in_process

    before = int(events * drift_at)
    stream, labels = drifting_events(seed, before, events - before)
    matrix = FraudFeatures().extract(stream)
    replay = Replay(seed, labels, matrix.tolist(), before)
    replay.champion["served"] = score_in_process(champion_model, matrix).ravel().astype(np.float64)
    return replay


def judge(replay: Replay, champion: str, settings: ShadowSettings) -> dict[str, RuleOutcome]:
    """Run the learner's challengers and comparison over the replay; outcome per challenger."""
    from engine.learn.shadow import ShadowModels

    shadow = ShadowModels(settings, FEATURE_NAMES)
    scores = replay.champion[champion]
    verdicts: dict[str, list[int]] = {model.name: [] for model in shadow.models}
    step = settings.compare_every
    for start in range(0, len(replay.labels), step):
        end = min(start + step, len(replay.labels))
        shadow.process(replay.rows[start:end], replay.labels[start:end].tolist(), scores[start:end].tolist())
        if shadow.due():
            for verdict in shadow.compare()[1]:
                verdicts[verdict.challenger].append(end)
    return {name: tally(at, replay.drift_at) for name, at in verdicts.items()}


def rules(pipeline: str) -> dict[str, ShadowSettings]:
    """The production rule (the pipeline's learn settings) and the demo's overrides of it."""
    from engine.demo.learner import DemoLearnSettings

    production = load_learn_settings(pipeline).shadow
    demo = DemoLearnSettings()
    return {
        f"production ({production.metric}, window {production.window}, margin {production.margin})": production,
        f"demo ({demo.metric}, window {demo.window}, margin {demo.margin})": production.model_copy(update={
            "window": demo.window, "compare_every": demo.compare_every, "min_labels": demo.min_labels,
            "min_positives": demo.min_positives, "metric": demo.metric, "margin": demo.margin}),
    }


def _calibration_line(replay: Replay, champion: str) -> str:
    """Fraud rate, mean score and log loss before and after the drift."""
    scores, labels, cut = replay.champion[champion], replay.labels, replay.drift_at
    halves = [(labels[:cut], scores[:cut]), (labels[cut:], scores[cut:])]
    return f"{replay.seed:>4d}  {champion:10s}  " + "   ".join(
        f"{y.mean():.4f} {p.mean():.4f} {log_loss(y, p):.4f}" for y, p in halves)


def newest_model(repository: Path) -> Path:
    """``<repository>/fraud/<highest version>/model.pt``."""
    from models.triton_repo import existing_versions

    versions = existing_versions(repository / "fraud")
    if not versions:
        raise SystemExit(f"no fraud model in {repository}: run `streaminfer models build fraud` (or make demo)")
    return repository / "fraud" / str(versions[-1]) / "model.pt"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    from engine.stack.settings import load_stack_settings
    from models.torchscript import load_torchscript

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=12, help="Generator seeds 1..N.")
    parser.add_argument("--events", type=int, default=60_000, help="Events per seed (the demo: 60 s at 1,000/s).")
    parser.add_argument("--drift-at", type=float, default=0.5, help="Fraction of the stream before the drift knob.")
    parser.add_argument("--model", type=Path, help="Champion TorchScript (default: newest in the stack's repository).")
    parser.add_argument("--calibrated", action="store_true", help="Also judge a prior-corrected champion.")
    parser.add_argument("--pipeline", default="fraud")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.events < 1000 or not 0.0 < args.drift_at < 1.0:
        parser.error("--seeds must be >= 1, --events >= 1000 and --drift-at strictly between 0 and 1")

    model_path = args.model or newest_model(load_stack_settings().model_repository)
    champion_model = load_torchscript(model_path)
    pos_weight = json.loads((model_path.parent / "metadata.json").read_text())["metrics"].get("pos_weight")
    champions = ["served"] + (["calibrated"] if args.calibrated and pos_weight else [])
    judged = rules(args.pipeline)
    rows: list[tuple[str, str, str, RuleOutcome]] = []
    calibration: list[str] = []
    for seed in range(1, args.seeds + 1):
        replay = make_replay(seed, args.events, args.drift_at, champion_model)
        if "calibrated" in champions:
            replay.champion["calibrated"] = prior_corrected(replay.champion["served"], pos_weight)
        for champion in champions:
            calibration.append(_calibration_line(replay, champion))
            for rule, settings in judged.items():
                for challenger, outcome in judge(replay, champion, settings).items():
                    rows.append((rule, champion, challenger, outcome))
        print(f"seed {seed} done", flush=True)

    print(f"\nchampion {model_path} (pos_weight {pos_weight}); {args.seeds} seeds × {args.events:,} events, "
          f"drift knob 0 → 1.0 after {args.drift_at:.0%}")
    print("\nseed  champion    before drift: fraud rate, mean score, log loss   after: the same")
    print("\n".join(calibration))
    print(f"\n{'rule':48s} {'champion':10s} {'challenger':13s} {'seeds won before':>16s} {'seeds won after':>15s}"
          f"  labels after the drift at the first win (median, range)")
    keys = sorted({(r, c, ch) for r, c, ch, _ in rows}, key=lambda k: (k[0], champions.index(k[1]), k[2]))
    for rule, champion, challenger in keys:
        mine = [o for r, c, ch, o in rows if (r, c, ch) == (rule, champion, challenger)]
        before = sum(o.wins_before > 0 for o in mine)
        firsts = sorted(o.first_after for o in mine if o.first_after is not None)
        spread = f"{int(np.median(firsts)):,} ({firsts[0]:,}–{firsts[-1]:,})" if firsts else "—"
        won_before, won_after = f"{before}/{len(mine)}", f"{len(firsts)}/{len(mine)}"
        print(f"{rule:48s} {champion:10s} {challenger:13s} {won_before:>16s} {won_after:>15s}  {spread}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
