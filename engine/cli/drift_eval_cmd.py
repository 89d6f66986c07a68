"""``streaminfer drift-eval [--quick] [--json PATH]`` — the drift detectors' evaluation protocol, through Kafka."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import typer

from engine.cli.errors import clear_errors
from engine.config.pipeline import load_pipeline
from engine.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add ``drift-eval`` to the top-level app."""
    app.command("drift-eval")(drift_eval)


def parse_detector(text: str):
    """``KIND[,param=value...][@direction]``, e.g. ``ADWIN,delta=1e-4@increase`` → DetectorSpec."""
    from pydantic import ValidationError

    from engine.learn.settings import DetectorSpec

    body, _, direction = text.partition("@")
    kind, *pairs = [part.strip() for part in body.split(",") if part.strip()]
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--detector {text!r}: expected param=value, got {pair!r}")
        params[name] = yaml_scalar(value)
    try:
        return DetectorSpec(kind=kind, params=params, direction=direction or "increase")
    except ValidationError as exc:
        raise ConfigError(f"--detector {text!r}: {exc.errors()[0]['msg']}") from None


def yaml_scalar(value: str):
    """``1e-4`` → 0.0001, ``30`` → 30, ``true`` → True; anything else stays text."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value.lower() == "true" if value.lower() in ("true", "false") else value


@clear_errors
def drift_eval(
    quick: bool = typer.Option(False, "--quick", help="3 seeds and 40k-event streams (a few minutes)."),
    json_path: Path = typer.Option(None, "--json", help="Write the summary (and per-stream results) here."),
    png_path: Path = typer.Option(None, "--png", help="Drift report image (default: next to --json, or ./drift-report.png)."),
    pipeline: str = typer.Option("fraud", "--pipeline", "-p", help="Pipeline whose Kafka and concept-drift detector to use."),
    detector: list[str] = typer.Option(None, "--detector", help="Detector to evaluate, KIND[,p=v...][@direction] "
                                       "(repeatable; default: the pipeline's error detector, then ADWIN,delta=1e-4)."),
    seeds: int = typer.Option(None, "--seeds", min=1, max=1000, help="Override the number of seeds."),
    workers: int = typer.Option(2, "--workers", min=1, max=16, help="Processes generating signals."),
    keep_topics: bool = typer.Option(False, "--keep-topics", help="Keep the private signal/alerts topics."),
    signal_cache: Path = typer.Option(None, "--signal-cache", file_okay=False,
                                      help="Reuse/store generated signals here (e.g. ~/.cache/streaminfer/drift-eval): "
                                           "comparing detectors then costs seconds, not the stream generation."),
) -> None:
    """Synthetic streams with known drifts → Kafka → the learner's detectors → alerts → detection figures."""
    from engine.drift_eval.cache import SignalCache
    from engine.drift_eval.protocol import EvalConfig, run_protocol
    from engine.drift_eval.report import plot, table
    from engine.learn.settings import DetectorSpec, load_learn_settings

    import logging

    from engine.logging_setup import configure_logging

    configure_logging("WARNING")
    logging.getLogger("streaminfer.alerts").setLevel(logging.ERROR)  # thousands of alerts by design
    settings = load_pipeline(pipeline)
    if detector:
        specs = [parse_detector(text) for text in detector]
    else:
        specs = [load_learn_settings(pipeline).concept_drift.error_detector,
                 DetectorSpec(kind="ADWIN", params={"delta": 1e-4}, direction="increase")]
    config = (EvalConfig.quick if quick else EvalConfig.full)(specs, workers)
    if seeds:
        config = dataclasses.replace(config, seeds=seeds)
    outcome = run_protocol(config, settings.kafka.bootstrap_servers, say=lambda line: typer.echo(line, err=True),
                           keep_topics=keep_topics, cache=SignalCache(signal_cache) if signal_cache else None)
    summary = outcome.summary
    png = png_path or (json_path.with_suffix(".png") if json_path else Path("drift-report.png"))
    summary["png"] = str(plot(png, outcome.traces, outcome.scores, outcome.river))
    typer.echo(table(summary["by_detector"]))
    typer.echo(f"headline ({summary['headline']['detector']}): detection rate {summary['detection_rate']}, "
               f"mean delay {summary['mean_delay']}, false alarms/100k {summary['false_alarms_per_100k']}, "
               f"kafka_matches_river {summary['kafka_matches_river']}; report {png}")
    if json_path:
        json_path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        typer.echo(f"wrote {json_path}")
