"""The learner's logic, free of faust: batches of raw records in; alerts, shadow records and state out.

The faust app (:mod:`engine.learn.app`) only moves records into these methods; everything here can be
driven synchronously by unit tests. Each ``on_*`` method skips records at or below the positions the
restored state already reflects, so a replay after a crash never teaches a learner the same label twice.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from engine.codec.decode import EventDecoder
from engine.alerts.manager import AlertManager
from engine.learn.confirm import Verdict
from engine.learn.join import JoinedExample, ScoreLabelJoin
from engine.learn.metrics import RollingBinaryMetrics
from engine.learn.monitor import DriftFinding
from engine.learn.positions import Positions
from engine.learn.sampling import KeySampler
from engine.learn.settings import LearnSettings
from engine.learn.shadow import ShadowModels
from engine.learn.signals import DetectorSet
from engine.learn.telemetry import LearnMetrics

ShadowSink = Callable[[list[tuple[bytes, bytes]]], None]
_EPS = 1e-15
log = logging.getLogger("streaminfer.learn")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One consumed record, as any Kafka client hands it over."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class LearnCore:
    """Detectors, join, learners and alerts of one pipeline.

    Args:
        pipeline: Pipeline name (records and alerts carry it).
        settings: Learner settings.
        feature_names: Columns of ``extract``'s matrix.
        extract: Feature extractor (the plugin's ``features.extract``).
        decoder: Validating decoder of the input topic (the hot path's own).
        join: The score ⋈ label join.
        alerts: Alert manager (gate + publisher).
        metrics: Prometheus metrics.
        shadow_sink: Receives (key, value) shadow records; ``None`` publishes nothing.
        clock_ms: Wall clock (join expiry, shadow scored_time).
        streams: Labels of the input and output streams in metrics (``streaminfer_learn_records_total``).
    """

    def __init__(self, pipeline: str, settings: LearnSettings, feature_names: Sequence[str],
                 extract: Callable[[list[dict]], Any], decoder: EventDecoder, join: ScoreLabelJoin,
                 alerts: AlertManager, metrics: LearnMetrics, shadow_sink: ShadowSink | None = None,
                 clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 streams: tuple[str, str] = ("inputs", "outputs")) -> None:
        self.pipeline = pipeline
        self.input_stream, self.output_stream = streams
        self.settings = settings
        self.feature_names = tuple(feature_names)
        self._extract = extract
        self._decoder = decoder
        self.join = join
        self.alerts = alerts
        self.metrics = metrics
        self._shadow_sink = shadow_sink
        self._clock_ms = clock_ms
        self.feature_sampler = KeySampler(settings.sampling.feature_rate, settings.sampling.salt + "/features")
        self.join_sampler = KeySampler(settings.sampling.join_rate, settings.sampling.salt + "/join")
        self.threshold = settings.concept_drift.threshold
        self.detectors = DetectorSet.build(settings, feature_names)
        self.shadow = ShadowModels(settings.shadow, feature_names, self.threshold) if settings.shadow.enabled else None
        self.champion = RollingBinaryMetrics(settings.shadow.window, self.threshold)
        self.positions = Positions()

    # --- input events: feature drift and features for the join -----------------------------------------

    def wants_input(self, key: bytes | None) -> bool:
        """Whether an input event with this key is sampled for anything (decided before decoding)."""
        return ((self.detectors.features is not None and self.feature_sampler.keep(key))
                or (self.shadow is not None and self.join_sampler.keep(key)))

    def on_inputs(self, topic: str, records: Sequence[RawRecord]) -> None:
        """Consumed input events; the sampled ones feed feature drift and park features in the join."""
        self.metrics.records(self.input_stream, len(records))
        fresh = [r for r in records
                 if self.positions.fresh(topic, r.partition, r.offset) and self.wants_input(r.key)]
        self.positions.advance(topic, records)
        if not fresh:
            return
        decoded = self._decoder.decode_batch([r.value for r in fresh])
        self.metrics.malformed(self.input_stream, len(decoded.rejects))
        if not decoded.events:
            return
        kept = [fresh[i] for i in decoded.good_index]
        matrix = self._extract(decoded.events)
        times = [event["event_time"] for event in decoded.events]
        for_drift = [i for i, r in enumerate(kept) if self.feature_sampler.keep(r.key)]
        bank = self.detectors.features
        if bank is not None and for_drift:
            self.metrics.sampled("features", len(for_drift))
            ids = {(kept[i].partition, kept[i].offset): decoded.events[i]["event_id"] for i in for_drift}
            findings = bank.update(matrix[for_drift], [times[i] for i in for_drift], list(ids))
            for finding in findings:
                self._alert("feature_drift", finding.signal, finding, topic, ids.get(finding.ref))
        if self.shadow is not None:
            now = self._clock_ms()
            late = []  # pairs joined before their features: the learners still get them
            for i, r in enumerate(kept):
                if self.join_sampler.keep(r.key):
                    example = self.join.add_features(r.partition, r.key or b"", decoded.events[i]["event_id"],
                                                     matrix[i], times[i], now)
                    if example is not None:
                        late.append(example)
            self._learn(late)

    # --- scores: prediction drift, and the score half of the join ----------------------------------------

    def on_outputs(self, topic: str, records: Sequence[RawRecord]) -> None:
        """Every score feeds prediction drift; sampled ones wait in the join for their label."""
        monitor = self.detectors.prediction
        joined: list[JoinedExample] = []
        malformed = sampled = 0
        now = self._clock_ms()
        builder = self.alerts.builder
        for r in records:
            if not self.positions.fresh(topic, r.partition, r.offset):
                continue
            try:
                record = orjson.loads(r.value)
                score, event_id, event_time = float(record["score"]), record["event_id"], int(record["event_time"])
                model_name, model_version = record["model"]["name"], record["model"]["version"]
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                malformed += 1
                continue
            if model_version != builder.model_version or model_name != builder.model_name:
                builder.set_model(model_name, model_version)
            if monitor is not None:
                finding = monitor.update(score, event_time, (r.partition, r.offset))
                if finding is not None:
                    self._alert("prediction_drift", "score", finding, topic, event_id)
            if self.join_sampler.keep(r.key):
                sampled += 1
                example = self.join.add_score(r.partition, r.key or b"", event_id, score, model_name,
                                              model_version, event_time, now, expect_features=self.shadow is not None)
                if example is not None:
                    joined.append(example)
        self.positions.advance(topic, records)
        self.metrics.records(self.output_stream, len(records))
        self.metrics.malformed(self.output_stream, malformed)
        self.metrics.sampled("join", sampled)
        self._on_joined(joined)

    # --- labels: the other half of the join ---------------------------------------------------------------

    def on_labels(self, topic: str, records: Sequence[RawRecord]) -> None:
        """Sampled labels join their score; joined examples feed concept drift and the learners."""
        joined: list[JoinedExample] = []
        malformed = 0
        now = self._clock_ms()
        for r in records:
            if not self.positions.fresh(topic, r.partition, r.offset) or not self.join_sampler.keep(r.key):
                continue
            try:
                record = orjson.loads(r.value)
                label, event_id = int(record["label"]), record["event_id"]
                label_time, event_time = int(record["label_time"]), int(record["event_time"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                malformed += 1
                continue
            example = self.join.add_label(r.partition, r.key or b"", event_id, label, label_time, event_time, now,
                                          expect_features=self.shadow is not None)
            if example is not None:
                joined.append(example)
        self.positions.advance(topic, records)
        self.metrics.records("labels", len(records))
        self.metrics.malformed("labels", malformed)
        self._on_joined(joined)

    def on_skipped(self, topic: str, stream: str, count: int, through: dict[int, int]) -> None:
        """Records a reader dropped by key before decoding (in no sample): counted as consumed of ``stream``,
        and covered by the positions up to ``through`` (partition → next offset)."""
        if count:
            self.metrics.records(stream, count)
        self.positions.advance_to(topic, through)

    def _on_joined(self, examples: list[JoinedExample]) -> None:
        if not examples:
            return
        error_monitor, loss_monitor = self.detectors.concept_error, self.detectors.concept_loss
        confirmers = self.detectors.confirmers
        for ex in examples:
            self.metrics.joined(ex.order)
            self.champion.update(ex.label, ex.score)
            p = min(1 - _EPS, max(_EPS, ex.score))
            for monitor, value in ((error_monitor, int((ex.score >= self.threshold) != (ex.label == 1))),
                                   (loss_monitor, -math.log(p if ex.label == 1 else 1 - p))):
                if monitor is None:
                    continue
                subject = f"{ex.model_name}:{monitor.signal}"
                confirmer = confirmers.get(monitor.signal)
                if confirmer is not None:
                    verdict = confirmer.update(value)
                    if verdict is not None:
                        self._judge_change(subject, verdict, ex)
                finding = monitor.update(value, ex.event_time, ex.event_id)
                if finding is None:
                    continue
                if confirmer is None:
                    self._alert("concept_drift", subject, finding, "joined", ex.event_id)
                else:  # fast and visible, but not a page until the change proves large and lasting
                    confirmer.start(finding)
                    self._alert("concept_drift", subject, finding, "joined", ex.event_id, severity="warning",
                                stage="detected")
        self._learn(examples)

    def _judge_change(self, subject: str, verdict: Verdict, ex: JoinedExample) -> None:
        finding = verdict.finding
        if not verdict.confirmed:
            self.metrics.change_judged(finding.signal, confirmed=False)
            log.info("concept change not confirmed: %s", verdict.summary)
            return
        self.metrics.change_judged(finding.signal, confirmed=True)
        window = {**finding.window, "topic": "joined", "confirmed_at_time": ex.event_time,
                  "confirmed_at": ex.event_id, "confirm_labels": verdict.labels}
        ratio = verdict.ratio if math.isfinite(verdict.ratio) else None  # JSON has no infinity
        evidence = {"detector": finding.detector, "summary": verdict.summary, "statistic": ratio,
                    "threshold": self.settings.concept_drift.confirm_ratio, "window": window,
                    "signal": finding.signal, "before": finding.before,
                    "after": {"mean": verdict.mean, "n": verdict.labels}, "params": finding.params,
                    "stage": "confirmed", "detected_at": finding.ref, "detected_at_time": finding.event_time}
        now = ex.event_time if self.settings.alerts.clock == "event_time" else None
        alert = self.alerts.raise_alert("concept_drift", subject, evidence, now_ms=now, event_id=ex.event_id,
                                        detector=f"{finding.detector}/confirmed")
        self.metrics.alert("concept_drift", alert is not None)

    def _learn(self, examples: list[JoinedExample]) -> None:
        """Challengers predict-then-learn the examples that carry features; comparison; shadow records."""
        with_features = [ex for ex in examples if ex.features is not None]
        if self.shadow is None or not with_features:
            return
        scores = self.shadow.process([ex.features for ex in with_features], [ex.label for ex in with_features],
                                     [ex.score for ex in with_features], [ex.label_time for ex in with_features])
        comparison = None
        if self.shadow.due():
            comparison, verdicts = self.shadow.compare()
            for verdict in verdicts:
                published = self.alerts.raise_alert("challenger_wins", verdict.challenger, verdict.evidence(),
                                                    detector=verdict.metric) is not None
                self.metrics.alert("challenger_wins", published)
        if self._shadow_sink is not None and self.settings.shadow.publish_records:
            self._publish_shadow(with_features, scores, comparison)

    def _publish_shadow(self, examples: list[JoinedExample], scores: list[dict[str, float]],
                        comparison: dict[str, Any] | None) -> None:
        now = self._clock_ms()
        out = []
        for i, (ex, challenger_scores) in enumerate(zip(examples, scores)):
            record = {"schema_version": 1, "event_id": ex.event_id, "pipeline": self.pipeline,
                      "champion": {"name": ex.model_name, "version": ex.model_version, "score": ex.score},
                      "challengers": [{"name": name, "score": s} for name, s in challenger_scores.items()],
                      "label": ex.label, "event_time": ex.event_time, "scored_time": now}
            if comparison is not None and i == len(examples) - 1:
                record["comparison"] = comparison  # optional field: the schema admits unknown fields
            out.append((ex.key, orjson.dumps(record)))
        self._shadow_sink(out)
        self.metrics.shadow_records(len(out))

    def _alert(self, kind: str, subject: str, finding: DriftFinding, topic: str, event_id: str | None,
               severity: str | None = None, stage: str | None = None) -> None:
        evidence = {"detector": finding.detector, "summary": finding.summary, "statistic": finding.statistic,
                    "threshold": None, "window": {**finding.window, "topic": topic}, "signal": finding.signal,
                    "before": finding.before, "after": finding.after, "params": finding.params}
        if stage is not None:
            evidence["stage"] = stage
        now = finding.event_time if self.settings.alerts.clock == "event_time" else None
        alert = self.alerts.raise_alert(kind, subject, evidence, now_ms=now, event_id=event_id,
                                        detector=finding.detector, severity=severity)
        self.metrics.alert(kind, alert is not None)

    # --- housekeeping --------------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Expire unmatched join entries and closed alert incidents; refresh gauges."""
        now = self._clock_ms()
        counts = self.join.expire(now)
        for waiting in ("score_only", "label_only", "features_only", "features_missing", "over_capacity"):
            self.metrics.expired(waiting, getattr(counts, waiting))
        if self.settings.alerts.clock == "wall":
            self.alerts.gate.prune(now)
        self.refresh_gauges()

    def refresh_gauges(self) -> None:
        """Model sample counts and metrics, detector update counts, join size."""
        self.metrics.join_pending.set(self.join.pending)
        self.metrics.set_model("champion", self.champion.n_seen, self.champion.snapshot())
        if self.shadow is not None:
            for model in self.shadow.models:
                self.metrics.set_model(model.name, model.n_learned, model.metrics.snapshot())
            for window, standings in self.shadow.timed_snapshot().items():
                self.metrics.set_model_window("champion", window, standings["champion"])
                for name, metrics in standings["challengers"].items():
                    self.metrics.set_model_window(name, window, metrics)
        for group, n in self.detectors.update_counts().items():
            self.metrics.set_detector_updates(group, n)
