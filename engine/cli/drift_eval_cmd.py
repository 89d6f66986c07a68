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


def parse_watch(text: str):
    """``SIGNAL:KIND[,param=value...][@direction]``, e.g. ``ctr:ADWIN,delta=1e-3@decrease`` → (signal, spec)."""
    signal, sep, rest = text.partition(":")
    if not sep or not signal.strip() or "," in signal or "=" in signal:
        raise ConfigError(f"--detector {text!r}: this pipeline's traces carry several signals; "
                          f"write SIGNAL:KIND[,param=value...][@direction], e.g. ctr:ADWIN,delta=1e-3@decrease")
    return signal.strip(), parse_detector(rest)


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
    quick: bool = typer.Option(False, "--quick", help="3 seeds and shorter streams (a few minutes)."),
    json_path: Path = typer.Option(None, "--json", help="Write the summary (and per-stream results) here."),
    png_path: Path = typer.Option(None, "--png", help="Drift report image (default: next to --json, or ./drift-report.png)."),
    pipeline: str = typer.Option("fraud", "--pipeline", "-p", help="Pipeline whose Kafka and concept-drift detector to use."),
    detector: list[str] = typer.Option(None, "--detector", help="Detector to evaluate, KIND[,p=v...][@direction], "
                                       "or SIGNAL:KIND[,p=v...][@direction] for a pipeline whose traces carry "
                                       "several signals "
                                       "(repeatable; default: the pipeline's error detector, then ADWIN,delta=1e-4)."),
    seeds: int = typer.Option(None, "--seeds", min=1, max=1000, help="Override the number of seeds."),
    workers: int = typer.Option(2, "--workers", min=1, max=16, help="Processes generating signals."),
    keep_topics: bool = typer.Option(False, "--keep-topics", help="Keep the private signal/alerts topics."),
    signal_cache: Path = typer.Option(None, "--signal-cache", file_okay=False,
                                      help="Reuse/store generated signals here (e.g. ~/.cache/streaminfer/drift-eval): "
                                           "comparing detectors then costs seconds, not the stream generation."),
) -> None:
    """Synthetic streams with known drifts → Kafka → the learner's detectors → alerts → detection figures.

    A pipeline whose plugin has a ``drift_eval_traces`` hook supplies its own streams, signals, detectors,
    unit and targets (e.g. CTR and log loss per ranked list, figures in impressions); the others get
    the River protocol (SEA and Agrawal streams, the online model's 0/1 errors, figures in events).
    """
    from engine.drift_eval.cache import SignalCache
    from engine.drift_eval.protocol import EvalConfig, run_protocol
    from engine.drift_eval.report import plot, table
    from engine.learn.settings import DetectorSpec, load_learn_settings

    import logging

    from engine.logging_setup import configure_logging

    configure_logging("WARNING")
    logging.getLogger("streaminfer.alerts").setLevel(logging.ERROR)  # thousands of alerts by design
    settings = load_pipeline(pipeline)
    hook = _traces_hook(settings)
    if hook is not None:
        _drift_eval_traces(hook, settings, quick, json_path, png_path, detector, seeds, workers, keep_topics,
                           signal_cache)
        return
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


def _traces_hook(settings):
    """The plugin's ``drift_eval_traces`` hook, or None (the River protocol)."""
    from engine.pipeline.loader import load_plugin

    plugin = load_plugin(settings.plugin, settings.plugin_options)
    return getattr(plugin, "drift_eval_traces", None)


def _drift_eval_traces(hook, settings, quick: bool, json_path: Path | None, png_path: Path | None,
                       detector: list[str] | None, seeds: int | None, workers: int, keep_topics: bool,
                       signal_cache: Path | None) -> None:
    """The protocol on the plugin's own traces (through the same Kafka, detectors and alert classes)."""
    from engine.drift_eval.cache import TraceCache
    from engine.drift_eval.report import plot_traces, trace_table
    from engine.drift_eval.trace_protocol import run_trace_protocol

    watches = [parse_watch(text) for text in detector] if detector else None
    say = lambda line: typer.echo(line, err=True)  # noqa: E731
    evaluation = hook(quick=quick, seeds=seeds, workers=workers,
                      cache=TraceCache(signal_cache) if signal_cache else None, say=say)
    if watches:
        evaluation = dataclasses.replace(evaluation, watches=watches)
    outcome = run_trace_protocol(evaluation, settings.kafka.bootstrap_servers, say=say, keep_topics=keep_topics)
    summary = outcome.summary
    unit = evaluation.unit
    png = png_path or (json_path.with_suffix(".png") if json_path else Path("drift-report.png"))
    summary["png"] = str(plot_traces(png, outcome.traces, outcome.scores, outcome.river,
                                     summary["headline"]["detector"], unit))
    typer.echo(trace_table(summary))
    rate, mean, quiet = summary["detection_rate"], summary["mean_delay"], summary[f"false_alarms_per_1m_{unit}"]
    typer.echo(f"headline ({summary['headline']['detector']}): detection rate "
               f"{'-' if rate is None else f'{rate:.1%}'} of abrupt drifts, mean delay "
               f"{'-' if mean is None else f'{mean:,.0f}'} {unit}, false alarms per 1M undrifted {unit} "
               f"{'-' if quiet is None else f'{quiet:.2f}'}, kafka_matches_river {summary['kafka_matches_river']}; "
               f"report {png}")
    if json_path:
        json_path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        typer.echo(f"wrote {json_path}")
