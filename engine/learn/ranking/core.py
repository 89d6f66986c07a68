"""The ranking learner's logic, free of faust: raw records in; alerts, comparisons and state out.

Three streams, as in the per-event learner: requests (input topic: context, candidates — sampled by key),
ranked lists (output topic: every one feeds prediction drift and the catalog figures; sampled ones wait
in the join) and per-item feedback (the labels topic: sampled by the same key). A list whose shown items
all have feedback is judged: the champion's ranking metrics, the concept-drift detectors on its CTR and
log loss, the position curve, and — when its request was sampled — the challengers, which re-rank the
same candidates in shadow and then learn the feedback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from engine.alerts.manager import AlertManager
from engine.codec.decode import EventDecoder
from engine.learn.confirm import ChangeConfirmer
from engine.learn.core import RawRecord
from engine.learn.findings import FindingAlerts
from engine.learn.metrics import binary_log_losses
from engine.learn.monitor import DriftMonitor, FeatureDriftBank
from engine.learn.positions import Positions
from engine.learn.ranking.join import JoinedList, RankedFeedbackJoin, ranked_half
from engine.learn.ranking.position_bias import ExaminationCurve
from engine.learn.ranking.metrics import CatalogMix, RankingMetrics, TimedRankingMetrics, list_metrics
from engine.learn.ranking.settings import RankingLearnSettings
from engine.learn.ranking.shadow import ShadowRankers
from engine.learn.ranking.spec import RankingLearning
from engine.learn.sampling import KeySampler
from engine.learn.telemetry import LearnMetrics

ShadowSink = Callable[[list[tuple[bytes, bytes]]], None]
log = logging.getLogger("streaminfer.learn.ranking")

#: Item-mix features appended to the plugin's context features (feature drift).
#: (Popularity is reported, not watched: long-run impression counts only grow, a detector would page on that.)
ITEM_MIX_NAMES = ("new_item_share",)
PREDICTION_SIGNAL = "top_score"
LOSS_SIGNAL = "log_loss"


def ctr_signal(k: int) -> str:
    """Name of the CTR@k concept signal (alert subject and evidence)."""
    return f"ctr@{k}"


@dataclass
class RankingDetectors:
    """Feature drift (context + item mix), prediction drift (top score), concept drift (CTR@k, log loss)."""

    features: FeatureDriftBank | None
    prediction: DriftMonitor | None
    concept: dict[str, DriftMonitor] = field(default_factory=dict)
    confirmers: dict[str, ChangeConfirmer] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: RankingLearnSettings, feature_names: Sequence[str]) -> RankingDetectors:
        """Fresh detectors for ``settings``."""
        f, p, c = settings.feature_drift, settings.prediction_drift, settings.concept_drift
        concept = {}
        if c.enabled:
            concept = {ctr_signal(settings.ranking.k): DriftMonitor(ctr_signal(settings.ranking.k), c.ctr_detector),
                       LOSS_SIGNAL: DriftMonitor(LOSS_SIGNAL, c.loss_detector)}
        confirmers = {signal: ChangeConfirmer(c.confirm_requests, c.confirm_ratio,
                                              "decrease" if monitor.direction == "decrease" else "increase")
                      for signal, monitor in concept.items()} if c.confirm_requests else {}
        bank = FeatureDriftBank(feature_names, f.detector, f.ignore) if f.enabled else None
        if bank is not None:
            rising = f.detector.model_copy(update={"direction": "increase"})
            for name in set(f.increase_only) & set(bank.monitors):
                bank.monitors[name] = DriftMonitor(name, rising)
        return cls(features=bank,
                   prediction=DriftMonitor(PREDICTION_SIGNAL, p.detector) if p.enabled else None,
                   concept=concept, confirmers=confirmers)

    def update_counts(self) -> dict[str, int]:
        """Values fed per group since the detectors were first built (restores included)."""
        counts = {}
        if self.features is not None:
            counts["features"] = sum(m.n_updates for m in self.features.monitors.values())
        if self.prediction is not None:
            counts["prediction"] = self.prediction.n_updates
        if self.concept:
            counts["concept"] = sum(m.n_updates for m in self.concept.values())
        return counts


@dataclass
class ChampionStanding:
    """The champion's ranking figures over the count window and each time window, and the catalog mix."""

    rolling: RankingMetrics
    timed: dict[str, TimedRankingMetrics]
    catalog: CatalogMix
    curve: ExaminationCurve
    judged: int = 0


class RankingCore:
    """Detectors, join, challengers and alerts of one ranking pipeline.

    Args:
        pipeline: Pipeline name (records and alerts carry it).
        settings: Ranking learner settings.
        learning: The plugin's ranking spec (field names, context features, score → probability).
        decoder: Validating decoder of the requests topic (the hot path's own).
        join: The ranked ⋈ feedback join.
        alerts: Alert manager (gate + publisher).
        metrics: Prometheus metrics.
        shadow_sink: Receives (key, value) comparison records; ``None`` publishes nothing.
        clock_ms: Wall clock (join expiry, record times).
    """

    def __init__(self, pipeline: str, settings: RankingLearnSettings, learning: RankingLearning,
                 decoder: EventDecoder, join: RankedFeedbackJoin, alerts: AlertManager, metrics: LearnMetrics,
                 shadow_sink: ShadowSink | None = None,
                 clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.learning = learning
        self.input_stream, self.output_stream = "inputs", "outputs"  # stream labels in metrics
        self._decoder = decoder
        self.join = join
        self.alerts = alerts
        self.metrics = metrics
        self._shadow_sink = shadow_sink
        self._clock_ms = clock_ms
        self.k = settings.ranking.k
        self.feature_names = (*learning.context_names, *ITEM_MIX_NAMES)
        self.feature_sampler = KeySampler(settings.sampling.feature_rate, settings.sampling.salt + "/features")
        self.join_sampler = KeySampler(settings.sampling.join_rate, settings.sampling.salt + "/join")
        # Challengers see a sub-sample of the joined users: the champion's figures stay on the whole join.
        self.shadow_sampler = KeySampler(settings.shadow.sample_rate, settings.sampling.salt + "/shadow")
        self.detectors = RankingDetectors.build(settings, self.feature_names)
        r = settings.ranking
        self.champion = ChampionStanding(
            RankingMetrics(self.k, r.window),
            {f"{span:g}s": TimedRankingMetrics(self.k, span) for span in r.time_windows_s},
            CatalogMix(r.window, int(r.new_item_age_s * 1000), r.max_items_tracked),
            ExaminationCurve(r.max_position, r.position_window))
        self.shadow = ShadowRankers(settings.shadow, self.k, r.window) if settings.shadow.enabled else None
        self.positions = Positions()
        self._findings = FindingAlerts(alerts, metrics, settings.alerts.clock, settings.concept_drift.confirm_ratio)

    # --- requests: feature drift, and the request half of the join --------------------------------------

    def wants_input(self, key: bytes | None) -> bool:
        """Whether a request with this key is sampled for anything (decided before decoding)."""
        return ((self.detectors.features is not None and self.feature_sampler.keep(key))
                or self._for_challengers(key))

    def _for_challengers(self, key: bytes | None) -> bool:
        """Whether this user's lists go to the challengers (in the join sample and the shadow sub-sample)."""
        return self.shadow is not None and self.join_sampler.keep(key) and self.shadow_sampler.keep(key)

    def on_inputs(self, topic: str, records: Sequence[RawRecord]) -> None:
        """Sampled requests feed feature drift (context, item mix) and park candidates in the join."""
        self.metrics.records(self.input_stream, len(records))
        fresh = [r for r in records if self.positions.fresh(topic, r.partition, r.offset) and self.wants_input(r.key)]
        self.positions.advance(topic, records)
        if not fresh:
            return
        decoded = self._decoder.decode_batch([r.value for r in fresh])
        self.metrics.malformed(self.input_stream, len(decoded.rejects))
        spec, now, bank = self.learning, self._clock_ms(), self.detectors.features
        catalog = self.champion.catalog
        rows, refs, times, late = [], [], [], []
        for i, request in zip(decoded.good_index, decoded.events):
            r = fresh[i]
            candidates = [str(c) for c in request[spec.candidates]]
            event_time = int(request.get("request_time", now))
            if bank is not None and self.feature_sampler.keep(r.key):
                mix = catalog.request_features(candidates, event_time)
                context = spec.context_features(request)
                rows.append([*(context[n] for n in spec.context_names), *(mix[n] for n in ITEM_MIX_NAMES)])
                refs.append(request[spec.request_id])
                times.append(event_time)
            catalog.observe_candidates(candidates, event_time)
            if self._for_challengers(r.key):
                half = {"candidates": candidates[: self.settings.shadow.max_candidates],
                        "categorical": spec.categorical_context(request), "user": str(request[spec.user_id])}
                joined = self.join.add_request(r.partition, r.key or b"", str(request[spec.request_id]), half, now)
                if joined is not None:
                    late.append(joined)
        if rows:
            self.metrics.sampled("features", len(rows))
            for finding in bank.update(np.asarray(rows, float), times, refs):
                self._findings.finding("feature_drift", finding.signal, finding, topic, str(finding.ref))
        self._on_joined(late)

    # --- ranked lists: prediction drift, catalog, and the ranked half of the join ------------------------

    def on_outputs(self, topic: str, records: Sequence[RawRecord]) -> None:
        """Every ranked list feeds prediction drift and the catalog figures; sampled ones wait for feedback."""
        monitor, builder, catalog = self.detectors.prediction, self.alerts.builder, self.champion.catalog
        spec, now, k = self.learning, self._clock_ms(), self.k
        joined: list[JoinedList] = []
        malformed = sampled = 0
        for r in records:
            if not self.positions.fresh(topic, r.partition, r.offset):
                continue
            try:
                record = orjson.loads(r.value)
                request_id = str(record[spec.request_id])
                half = ranked_half(record, spec.items)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                malformed += 1
                continue
            if half.model_version != builder.model_version or half.model_name != builder.model_name:
                builder.set_model(half.model_name, half.model_version)
            if not half.items:
                continue
            if monitor is not None:
                finding = monitor.update(half.scores[0], half.request_time, (r.partition, r.offset))
                if finding is not None:
                    self._findings.finding("prediction_drift", PREDICTION_SIGNAL, finding, topic, request_id)
            catalog.observe_shown(half.items[:k], half.request_time)
            if self.join_sampler.keep(r.key):
                sampled += 1
                done = self.join.add_ranked(r.partition, r.key or b"", request_id, half, now,
                                            expect_request=self._for_challengers(r.key))
                if done is not None:
                    joined.append(done)
        self.positions.advance(topic, records)
        self.metrics.records(self.output_stream, len(records))
        self.metrics.malformed(self.output_stream, malformed)
        self.metrics.sampled("join", sampled)
        self._on_joined(joined)

    # --- feedback: the other half ------------------------------------------------------------------------

    def on_labels(self, topic: str, records: Sequence[RawRecord]) -> None:
        """Sampled feedback joins its ranked list; complete lists are judged."""
        joined: list[JoinedList] = []
        malformed = 0
        now, spec = self._clock_ms(), self.learning
        for r in records:
            if not self.positions.fresh(topic, r.partition, r.offset) or not self.join_sampler.keep(r.key):
                continue
            try:
                record = orjson.loads(r.value)
                request_id, item = str(record[spec.request_id]), str(record["item_id"])
                position, clicked = int(record["position"]), record["clicked"]
                feedback_time = int(record["feedback_time"])
                if position < 1 or not isinstance(clicked, bool):
                    raise ValueError("position < 1 or clicked not a boolean")
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                malformed += 1
                continue
            done = self.join.add_feedback(r.partition, r.key or b"", request_id, item, position, clicked,
                                          feedback_time, now, expect_request=self._for_challengers(r.key))
            if done is not None:
                joined.append(done)
        self.positions.advance(topic, records)
        self.metrics.records("labels", len(records))
        self.metrics.malformed("labels", malformed)
        self._on_joined(joined)

    def on_skipped(self, topic: str, stream: str, count: int, through: dict[int, int]) -> None:
        """Records a reader dropped by key before decoding: counted, and covered by the positions."""
        if count:
            self.metrics.records(stream, count)
        self.positions.advance_to(topic, through)

    # --- judging a list ----------------------------------------------------------------------------------

    def _on_joined(self, lists: list[JoinedList]) -> None:
        for joined in lists:
            probas = self._champion_probas(joined)
            if not joined.learn_only:
                self._judge_champion(joined, probas)
            if self.shadow is not None and joined.request is not None:
                self.shadow.process(joined, probas, self.champion.curve.theta)
                if self.shadow.due():
                    self._compare()

    def _champion_probas(self, joined: JoinedList) -> np.ndarray:
        """The champion's click probability per shown item: P(relevant) from its score times the estimated
        examination propensity of the slot (position-based click model). An item shown but not ranked
        (the client added it) gets the lowest probability."""
        scores = dict(zip(joined.ranked.items, joined.ranked.scores))
        raw = np.array([scores.get(item, np.nan) for item in joined.shown], float)
        relevance = np.where(np.isnan(raw), 0.0, self.learning.score_to_probability(np.nan_to_num(raw, nan=0.0)))
        slots = [p for p, _, _ in joined.shown.values()]
        return np.clip(relevance * self.champion.curve.at(slots), 1e-6, 1 - 1e-6)

    def _judge_champion(self, joined: JoinedList, probas: np.ndarray) -> None:
        champion = self.champion
        positions = np.array([p for p, _, _ in joined.shown.values()], np.int64)
        clicked = np.array([c for _, c, _ in joined.shown.values()], bool)
        figures = list_metrics(positions, clicked, self.k)
        champion.rolling.update(positions, clicked, probas)
        feedback_time = joined.feedback_time
        for window in champion.timed.values():
            window.update(positions, clicked, probas, feedback_time)
        champion.judged += 1
        self.metrics.joined(joined.order if joined.complete else "partial")
        champion.curve.observe(list(joined.shown), positions.tolist(), clicked.tolist())
        loss = float(binary_log_losses(clicked.astype(np.int64), probas).mean())
        signals = {ctr_signal(self.k): figures["ctr"], LOSS_SIGNAL: loss}
        for signal, monitor in self.detectors.concept.items():
            value = signals[signal]
            subject = f"{joined.ranked.model_name}:{signal}"
            confirmer = self.detectors.confirmers.get(signal)
            if confirmer is not None:
                verdict = confirmer.update(value)
                if verdict is not None:
                    self.metrics.change_judged(signal, confirmed=verdict.confirmed)
                    if verdict.confirmed:
                        self._findings.confirmed(subject, verdict, joined.request_id, feedback_time, "requests")
                    else:
                        log.info("concept change not confirmed: %s", verdict.summary)
            finding = monitor.update(value, feedback_time, joined.request_id)
            if finding is None:
                continue
            if confirmer is None:
                self._findings.finding("concept_drift", subject, finding, "joined", joined.request_id)
            else:  # visible at once as a warning; a page only if the change proves large and lasting
                confirmer.start(finding)
                self._findings.finding("concept_drift", subject, finding, "joined", joined.request_id,
                                       severity="warning", stage="detected")

    def _compare(self) -> None:
        comparison, verdicts = self.shadow.compare()
        for verdict in verdicts:
            published = self.alerts.raise_alert("challenger_wins", verdict.challenger, verdict.evidence(),
                                                detector=verdict.metric) is not None
            self.metrics.alert("challenger_wins", published)
        if self._shadow_sink is not None and self.settings.shadow.publish_records:
            record = {"schema_version": 1, "pipeline": self.pipeline, "kind": "ranking_comparison",
                      "model": {"name": self.alerts.builder.model_name, "version": self.alerts.builder.model_version},
                      "comparison_time": self._clock_ms(), "k": self.k, **comparison,
                      "champion_window": self.champion.rolling.snapshot(),
                      "time_windows": {name: w.snapshot() for name, w in self.champion.timed.items()},
                      "catalog": self.champion.catalog.snapshot()}
            self._shadow_sink([(self.pipeline.encode(), orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY))])
            self.metrics.shadow_records(1)

    # --- housekeeping --------------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Expire unmatched join entries (judging partial lists) and closed alert incidents; refresh gauges."""
        now = self._clock_ms()
        counts, partial = self.join.expire(now)
        for waiting, n in counts.as_dict().items():
            self.metrics.expired(waiting, n)
        self._on_joined(partial)
        if self.settings.alerts.clock == "wall":
            self.alerts.gate.prune(now)
        self.refresh_gauges()

    def refresh_gauges(self) -> None:
        """Champion and challenger figures, catalog mix, detector update counts, join size."""
        m = self.metrics
        m.join_pending.set(self.join.pending)
        m.set_model_figures("champion", self.champion.judged, self.champion.rolling.snapshot())
        for window, metrics in self.champion.timed.items():
            m.set_model_window_figures("champion", window, metrics.snapshot())
        m.set_catalog(self.champion.catalog.snapshot())
        if self.shadow is not None:
            snapshot = self.shadow.snapshot()
            m.set_model_figures("champion_paired", snapshot["requests"], snapshot["champion"])
            for name, figures in snapshot["challengers"].items():
                m.set_model_figures(name, figures["learned"], figures)
        for group, n in self.detectors.update_counts().items():
            m.set_detector_updates(group, n)

    def state_parts(self) -> dict[str, tuple[Any, Callable[[], Any], Callable[[Any], None]]]:
        """Checkpointed components: name → (what shaped it, getter, setter)."""
        s = self.settings

        def set_shadow(obj: Any) -> None:
            self.shadow, self.champion = obj

        def set_detectors(obj: Any) -> None:
            self.detectors = obj

        def set_gate(obj: Any) -> None:
            self.alerts.gate = obj

        def set_positions(obj: Any) -> None:
            self.positions = obj

        return {
            "detectors": ((s.feature_drift, s.prediction_drift, s.concept_drift, s.ranking.k, list(self.feature_names)),
                          lambda: self.detectors, set_detectors),
            "shadow": ((s.shadow, s.ranking), lambda: (self.shadow, self.champion), set_shadow),
            "alerts": ((s.alerts,), lambda: self.alerts.gate, set_gate),
            "positions": ((s.sampling,), lambda: self.positions, set_positions),
        }
