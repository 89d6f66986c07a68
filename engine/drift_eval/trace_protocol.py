"""The protocol for a plugin's own traces: traces → Kafka → the learner's detectors → alerts → scores in units.

Same legs as :func:`engine.drift_eval.protocol.run_protocol` (private topics, the learner's
:class:`~engine.learn.monitor.DriftMonitor` and alert classes behind a consumer, alerts read back and
cross-checked against the same watches run directly), but the traces come from the pipeline plugin
(:class:`~engine.drift_eval.traces.DriftEvalTraces`), every stream carries several signals, each watched by
its own detector, and every figure is in the plugin's unit (``impressions``, say) instead of events.

Besides one entry per watch, ``by_detector`` has ``any(...)``: the union of every watch's alerts per
stream — what on-call is paged with when any of the learner's concept-drift detectors fires — which is
the headline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.drift_eval.detect import alert_positions, river_positions, watch_name
from engine.drift_eval.kafka_run import EvalTopics, detect_from_kafka, produce_traces, read_alerts
from engine.drift_eval.scoring import StreamScore, score_stream, summarize
from engine.drift_eval.traces import DriftEvalTraces, StepTrace
from engine.errors import StreaminferError

Say = Callable[[str], None]
KINDS = ("abrupt", "gradual", "null")


@dataclass
class TraceOutcome:
    """Everything a run produced: JSON summary plus what the report plots."""

    summary: dict[str, Any]
    traces: list[StepTrace] = field(default_factory=list)
    scores: list[StreamScore] = field(default_factory=list)
    river: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def combined_name(names: Sequence[str]) -> str:
    """``any(ctr,loss)`` for the watches ``ctr:...`` and ``loss:...``."""
    return f"any({','.join(name.split(':', 1)[0] for name in names)})"


def run_trace_protocol(evaluation: DriftEvalTraces, bootstrap: str, say: Say = print,
                       keep_topics: bool = False) -> TraceOutcome:
    """Run the Kafka leg, the direct run and the scoring on a plugin's traces."""
    started = time.monotonic()
    traces = list(evaluation.traces)
    watches = list(evaluation.watches)
    if not traces or not watches:
        raise StreaminferError("drift-eval: the plugin supplied no traces or no watches")
    missing = sorted({signal for signal, _ in watches} - set(traces[0].signals))
    if missing:
        raise StreaminferError(f"drift-eval: no signal {', '.join(missing)} in the traces "
                               f"(they have {', '.join(traces[0].signals)})")
    topics = EvalTopics(bootstrap)
    topics.create()
    try:
        t0 = time.monotonic()
        produced = produce_traces(bootstrap, topics.signal, traces)
        say(f"kafka: {produced:,} signal records produced to {topics.signal} in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        consumed, published = detect_from_kafka(bootstrap, topics, produced, watches, evaluation.cooldown,
                                                timeout_s=max(300.0, produced / 3000), say=say)
        if consumed != produced:
            raise StreaminferError(f"drift-eval: consumed {consumed:,} of {produced:,} signal records")
        alerts = read_alerts(bootstrap, topics.alerts, published)
        say(f"kafka: detectors consumed {consumed:,} records, published {published} alerts, read back "
            f"{len(alerts)} from {topics.alerts} in {time.monotonic() - t0:.1f} s")
    finally:
        if not keep_topics:
            topics.delete()
    kafka_s = time.monotonic() - started

    kafka = alert_positions(alerts)
    river = river_positions(traces, watches, evaluation.cooldown)
    names = [watch_name(watch) for watch in watches]
    any_name = combined_name(names)
    scores = [score_stream(trace, name, kafka.get((trace.name, name), []), evaluation.max_delay)
              for name in names for trace in traces]
    scores += [score_stream(trace, any_name, sorted(a for name in names for a in kafka.get((trace.name, name), [])),
                            evaluation.max_delay) for trace in traces]
    summary = trace_summary(evaluation, traces, scores, names, any_name, kafka, river,
                            read=len(alerts), published=published, produced=produced,
                            kafka_s=kafka_s, total_s=time.monotonic() - started + evaluation.signal_seconds)
    return TraceOutcome(summary, traces, scores, river)


def summarize_units(scores: Iterable[StreamScore], undrifted: dict[str, int], unit: str) -> dict[str, Any]:
    """:func:`summarize` (its ``events`` are units) plus per-1M rates and the false alarms on undrifted units.

    Args:
        scores: One detector's scores.
        undrifted: Stream → units before its first drift (all of a null stream).
        unit: Name of the unit (``impressions``).
    """
    scores = list(scores)
    out = summarize(scores)
    quiet_units = sum(undrifted[s.stream] for s in scores)
    quiet_alarms = sum(sum(a < undrifted[s.stream] for a in s.alerts) for s in scores)
    out[unit] = out["events"]
    out[f"false_alarms_per_1m_{unit}_all"] = (out["false_alarms"] * 1_000_000 / out["events"]
                                              if out["events"] else None)
    out[f"undrifted_{unit}"] = quiet_units
    out["false_alarms_undrifted"] = quiet_alarms
    out[f"false_alarms_per_1m_{unit}"] = quiet_alarms * 1_000_000 / quiet_units if quiet_units else None
    return out


def trace_summary(evaluation: DriftEvalTraces, traces: list[StepTrace], scores: list[StreamScore],
                  names: list[str], any_name: str, kafka: dict, river: dict, *, read: int, published: int,
                  produced: int, kafka_s: float, total_s: float) -> dict[str, Any]:
    """The JSON summary: the River protocol's keys, figures in ``evaluation.unit``, plus per drift family."""
    unit = evaluation.unit
    undrifted = {trace.name: trace.undrifted_units for trace in traces}
    families = sorted({trace.spec.generator for trace in traces if trace.spec.kind != "null"})
    by_detector: dict[str, dict[str, dict]] = {}
    by_family: dict[str, dict[str, dict[str, dict]]] = {}
    for name in [any_name, *names]:
        mine = [s for s in scores if s.detector == name]
        by_detector[name] = {kind: summarize_units((s for s in mine if s.kind == kind), undrifted, unit)
                             for kind in KINDS}
        by_detector[name]["all"] = summarize_units(mine, undrifted, unit)
        by_family[name] = {family: {kind: summarize_units((s for s in mine if s.generator == family
                                                           and s.kind == kind), undrifted, unit)
                                    for kind in ("abrupt", "gradual")} for family in families}
    headline = by_detector[any_name]
    abrupt, everything = headline["abrupt"], headline["all"]
    matches = all(kafka.get(key, []) == positions for key, positions in river.items()) and \
        all(river.get(key, []) == positions for key, positions in kafka.items())
    figures = {"detection_rate": abrupt["detection_rate"], "mean_delay": abrupt["mean_delay"],
               f"false_alarms_per_1m_{unit}": everything[f"false_alarms_per_1m_{unit}"]}
    targets = {t.key: {"target": f"{t.op} {t.value:g}", "about": t.text, "measured": figures.get(t.key),
                       "met": t.met(figures.get(t.key))} for t in evaluation.targets}
    return {
        "detection_rate": abrupt["detection_rate"], "mean_delay": abrupt["mean_delay"],
        "max_delay": abrupt["max_delay"], "missed_drifts": abrupt["missed"],
        "false_alarms_per_100k": everything["false_alarms_per_100k"],
        f"false_alarms_per_1m_{unit}": everything[f"false_alarms_per_1m_{unit}"],
        "kafka_matches_river": matches,
        "false_alarm_causes": everything["false_alarm_causes"],
        "headline": {"detector": any_name, "watches": names,
                     "detection_rate": "abrupt drifts, detected within max_delay of their start",
                     "mean_delay": f"abrupt drifts, {unit} from the drift's start to the alerting step's first",
                     "max_delay": f"abrupt drifts, {unit}",
                     "false_alarms_per_100k": f"all streams (null and drifting), unmatched alerts per 100k {unit}",
                     f"false_alarms_per_1m_{unit}": f"alerts on undrifted {unit} (null streams, and drifting "
                                                    f"streams before their drift) per 1M of them",
                     "false_alarm_causes": "early / late / aftershock / unexplained (engine.drift_eval.scoring)",
                     "any": "union of the watches' alerts per stream: what pages when any detector fires"},
        "units": {"delay": unit, "false_alarms": unit, "clock": f"{unit} before each step", "step": "one record"},
        "targets": targets, "by_detector": by_detector, "by_drift_kind": by_family,
        "kafka": {"signal_records": produced, "alerts_published": published, "alerts_read_back": read},
        "seconds": {"signals": round(evaluation.signal_seconds, 1), "kafka_and_scoring": round(kafka_s, 1),
                    "total": round(total_s, 1)},
        "config": {**evaluation.config, "max_delay": evaluation.max_delay, "cooldown": evaluation.cooldown,
                   "unit": unit, "watches": [{"signal": signal, **spec.model_dump()}
                                             for signal, spec in evaluation.watches]},
        "per_stream": [s.to_json() for s in scores],
        "signal_cache": evaluation.cache,
    }
