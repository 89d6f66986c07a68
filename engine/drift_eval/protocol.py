"""The standard evaluation protocol: streams × seeds → signals → Kafka → detectors → alerts → scores."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.drift_eval.cache import SignalCache
from engine.drift_eval.detect import alert_positions, detector_name, river_positions
from engine.drift_eval.kafka_run import EvalTopics, detect_from_kafka, produce_signals, read_alerts
from engine.drift_eval.scoring import StreamScore, score_stream, summarize
from engine.drift_eval.signals import MODEL_DESCRIPTION, SignalTrace, make_signals
from engine.drift_eval.streams import CONCEPTS, GENERATORS, StreamSpec
from engine.errors import StreaminferError
from engine.learn.settings import DetectorSpec

Say = Callable[[str], None]
TARGETS = {"detection_rate": ">= 0.95 of abrupt drifts", "mean_delay": "<= 1000 events",
           "false_alarms_per_100k": "<= 0.1"}


@dataclass(frozen=True)
class EvalConfig:
    """Sizes of one protocol run.

    Attributes:
        seeds: Seeds per (generator, kind).
        segment: Events per concept; drifts are centred every ``segment`` events.
        concepts: Concepts per drifting stream (drifts = concepts - 1).
        width: Transition width of gradual drifts.
        null_length: Events per no-drift stream.
        max_delay: Latest an alert may come after a drift's start and still count as its detection.
        cooldown_events: Alert cooldown, in events (the gate's clock is the event index). Equal to
            ``max_delay``: firings within the window that credits a detection are one incident, as the
            production gate (30 min of wall time, far more events) would also merge them. A model
            re-adapting after a drift moves its error rate more than once; with a 2,000-event cooldown
            those aftershocks were paged again and counted as false alarms.
        workers: Processes generating signals.
        detectors: Detector configurations evaluated (the first is the headline).
    """

    seeds: int
    segment: int
    concepts: int
    width: int
    null_length: int
    max_delay: int
    cooldown_events: int
    workers: int
    detectors: tuple[DetectorSpec, ...]
    generators: tuple[str, ...] = GENERATORS

    @classmethod
    def full(cls, detectors: Sequence[DetectorSpec], workers: int = 2) -> EvalConfig:
        """30 seeds, 100k-event streams (3 drifts each), 100k-event null streams."""
        return cls(30, 25_000, 4, 1000, 100_000, 5000, 5000, workers, tuple(detectors))

    @classmethod
    def quick(cls, detectors: Sequence[DetectorSpec], workers: int = 2) -> EvalConfig:
        """3 seeds, 40k-event streams: a few minutes on the 2-core box."""
        return cls(3, 10_000, 4, 1000, 40_000, 5000, 5000, workers, tuple(detectors))

    def specs(self) -> list[StreamSpec]:
        """Every stream of the run."""
        out = []
        for generator in self.generators:
            for kind in ("abrupt", "gradual", "null"):
                for seed in range(1, self.seeds + 1):
                    out.append(StreamSpec(generator, kind, seed, self.segment, self.concepts, self.width,
                                          self.null_length if kind == "null" else 0))
        return out


@dataclass
class EvalOutcome:
    """Everything a run produced: JSON summary plus what the report plots."""

    summary: dict[str, Any]
    traces: list[SignalTrace] = field(default_factory=list)
    scores: list[StreamScore] = field(default_factory=list)
    river: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def run_protocol(config: EvalConfig, bootstrap: str, say: Say = print, keep_topics: bool = False,
                 cache: SignalCache | None = None) -> EvalOutcome:
    """Run the protocol end to end against the Kafka at ``bootstrap`` (signals from ``cache`` where present)."""
    started = time.monotonic()
    specs = config.specs()
    say(f"signals: {len(specs)} streams, {sum(s.n_events for s in specs):,} events, {config.workers} workers")
    traces = make_signals(specs, config.workers, progress=lambda t: say(
        f"  {t.name}: {len(t.errors):,} events, error rate {t.errors.mean():.3f}, drifts at {[d.centre for d in t.drifts]}"),
        cache=cache)
    if cache is not None:
        say(f"signal cache {cache.directory}: {cache.hits} loaded, {cache.misses} generated")
    signal_s = time.monotonic() - started

    topics = EvalTopics(bootstrap)
    topics.create()
    try:
        t0 = time.monotonic()
        produced = produce_signals(bootstrap, topics.signal, traces)
        say(f"kafka: {produced:,} signal records produced to {topics.signal} in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        consumed, published = detect_from_kafka(bootstrap, topics, produced, config.detectors, config.cooldown_events,
                                                timeout_s=max(300.0, produced / 5000), say=say)
        if consumed != produced:
            raise StreaminferError(f"drift-eval: consumed {consumed:,} of {produced:,} signal records")
        alerts = read_alerts(bootstrap, topics.alerts, published)
        say(f"kafka: detectors consumed {consumed:,} records, published {published} alerts, read back "
            f"{len(alerts)} from {topics.alerts} in {time.monotonic() - t0:.1f} s")
    finally:
        if not keep_topics:
            topics.delete()

    kafka = alert_positions(alerts)
    river = river_positions(traces, config.detectors, config.cooldown_events)
    scores = [score_stream(trace, detector_name(spec), kafka.get((trace.name, detector_name(spec)), []),
                           config.max_delay)
              for spec in config.detectors for trace in traces]
    summary = _summary(config, traces, scores, kafka, river, len(alerts), published, produced,
                       signal_s, time.monotonic() - started)
    summary["signal_cache"] = None if cache is None else {
        "directory": str(cache.directory), "loaded": cache.hits, "generated": cache.misses}
    return EvalOutcome(summary, traces, scores, river)


def _summary(config: EvalConfig, traces: list[SignalTrace], scores: list[StreamScore], kafka: dict, river: dict,
             read: int, published: int, produced: int, signal_s: float, total_s: float) -> dict[str, Any]:
    by_detector: dict[str, dict[str, dict]] = {}
    for spec in config.detectors:
        name = detector_name(spec)
        mine = [s for s in scores if s.detector == name]
        by_detector[name] = {kind: summarize(s for s in mine if s.kind == kind) for kind in ("abrupt", "gradual", "null")}
        by_detector[name]["all"] = summarize(mine)
    headline = detector_name(config.detectors[0])
    abrupt, everything = by_detector[headline]["abrupt"], by_detector[headline]["all"]
    matches = all(kafka.get(key, []) == positions for key, positions in river.items()) and \
        all(river.get(key, []) == positions for key, positions in kafka.items())
    return {
        "detection_rate": abrupt["detection_rate"], "mean_delay": abrupt["mean_delay"],
        "max_delay": abrupt["max_delay"], "missed_drifts": abrupt["missed"],
        "false_alarms_per_100k": everything["false_alarms_per_100k"], "kafka_matches_river": matches,
        "false_alarm_causes": everything["false_alarm_causes"],
        "headline": {"detector": headline, "detection_rate": "abrupt drifts", "mean_delay": "abrupt drifts, events",
                     "false_alarms_per_100k": "all streams (null and drifting), unmatched alerts",
                     "false_alarm_causes": "early / late / aftershock / unexplained (engine.drift_eval.scoring)"},
        "targets": TARGETS, "by_detector": by_detector,
        "kafka": {"signal_records": produced, "alerts_published": published, "alerts_read_back": read},
        "seconds": {"signals": round(signal_s, 1), "total": round(total_s, 1)},
        "config": {**{k: v for k, v in asdict(config).items() if k != "detectors"},
                   "detectors": [spec.model_dump() for spec in config.detectors],
                   "model": MODEL_DESCRIPTION,
                   "streams": {g: f"ConceptDriftStream over {g} concepts {CONCEPTS[g]}" for g in config.generators}},
        "per_stream": [s.to_json() for s in scores],
    }
