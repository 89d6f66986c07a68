"""Prometheus metrics of the learner (prometheus-client), on their own port bound to 127.0.0.1."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class LearnMetrics:
    """Counters and gauges of one learner process, labelled by pipeline.

    Throughput is ``rate(streaminfer_learn_records_total[1m])``; lag is per topic and partition.

    Args:
        pipeline: Pipeline name, a constant label.
        registry: Where to register (a private registry by default, so tests can build several).
    """

    def __init__(self, pipeline: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        kw = {"registry": self.registry}
        p = ["pipeline"]
        self.pipeline = pipeline
        self._records = Counter("streaminfer_learn_records", "Records consumed, by stream.", [*p, "stream"], **kw)
        self._sampled = Counter("streaminfer_learn_sampled", "Records kept by a sample, by sample.",
                                [*p, "sample"], **kw)
        self._malformed = Counter("streaminfer_learn_malformed", "Records that could not be decoded.",
                                  [*p, "stream"], **kw)
        self._joined = Counter("streaminfer_learn_joined", "Score/label pairs joined, by which half came first.",
                               [*p, "order"], **kw)
        self._expired = Counter("streaminfer_learn_join_expired", "Join entries expired unmatched, by what waited.",
                                [*p, "waiting"], **kw)
        self.join_pending = Gauge("streaminfer_learn_join_pending", "Join entries waiting for their other half.",
                                  p, **kw).labels(pipeline)
        self._alerts = Counter("streaminfer_learn_alerts", "Detector firings by kind and gate outcome.",
                               [*p, "kind", "outcome"], **kw)
        self._changes = Counter("streaminfer_learn_concept_changes_judged",
                                "Concept-drift change points judged after their probation, by outcome.",
                                [*p, "signal", "outcome"], **kw)
        self._lag = Gauge("streaminfer_learn_consumer_lag", "High watermark minus committed/position.",
                          [*p, "topic", "partition"], **kw)
        self._samples = Gauge("streaminfer_learn_model_samples", "Examples a shadow model has learned.",
                              [*p, "model"], **kw)
        self._metric = Gauge("streaminfer_learn_model_metric", "Rolling metric per model (champion included).",
                             [*p, "model", "metric"], **kw)
        self._window_metric = Gauge("streaminfer_learn_model_window_metric",
                                    "Metric per model over the labels that arrived in the last `window` "
                                    "(champion: the examples the challengers saw).",
                                    [*p, "model", "metric", "window"], **kw)
        self._detector_updates = Gauge("streaminfer_learn_detector_updates",
                                       "Values fed to the detectors of a group since first start.",
                                       [*p, "group"], **kw)
        self._checkpoints = Counter("streaminfer_learn_checkpoints", "State checkpoints by outcome.",
                                    [*p, "outcome"], **kw)
        self._restored = Gauge("streaminfer_learn_state_restored",
                               "Per component: 1 restored, 0 started fresh, -1 refused (integrity).",
                               [*p, "component"], **kw)
        self._catalog = Gauge("streaminfer_learn_catalog", "What the champion recommended over the window: "
                              "coverage, gini, mean_popularity_rank, new_item_share, item_mix_divergence...",
                              [*p, "figure"], **kw)
        self._shadow_records = Counter("streaminfer_learn_shadow_records", "Records published to the shadow topic.",
                                       p, **kw).labels(pipeline)

    def serve_http(self, host: str, port: int) -> None:
        """Expose ``/metrics`` (port 0: not at all)."""
        if port:
            start_http_server(port, addr=host, registry=self.registry)

    def records(self, stream: str, n: int = 1) -> None:
        """Count consumed records of ``stream`` (the plugin's input/output stream labels, labels)."""
        self._records.labels(self.pipeline, stream).inc(n)

    def sampled(self, sample: str, n: int = 1) -> None:
        """Count records kept by a sample (features, join)."""
        if n:
            self._sampled.labels(self.pipeline, sample).inc(n)

    def malformed(self, stream: str, n: int = 1) -> None:
        """Count records that could not be decoded."""
        if n:
            self._malformed.labels(self.pipeline, stream).inc(n)

    def joined(self, order: str, n: int = 1) -> None:
        """Count joined pairs."""
        self._joined.labels(self.pipeline, order).inc(n)

    def expired(self, waiting: str, n: int) -> None:
        """Count expired join entries."""
        if n:
            self._expired.labels(self.pipeline, waiting).inc(n)

    def alert(self, kind: str, published: bool) -> None:
        """Count one detector firing."""
        self._alerts.labels(self.pipeline, kind, "published" if published else "suppressed").inc()

    def change_judged(self, signal: str, confirmed: bool) -> None:
        """Count one concept-drift change point judged (confirmed: paged; else only its warning stood)."""
        self._changes.labels(self.pipeline, signal, "confirmed" if confirmed else "unconfirmed").inc()

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """Set one partition's lag."""
        self._lag.labels(self.pipeline, topic, str(partition)).set(lag)

    def set_model(self, model: str, samples: int, metrics: dict) -> None:
        """Publish a model's learned count and rolling metrics."""
        self._samples.labels(self.pipeline, model).set(samples)
        for name in ("roc_auc", "log_loss", "accuracy"):
            if metrics.get(name) is not None:
                self._metric.labels(self.pipeline, model, name).set(metrics[name])

    def set_model_window(self, model: str, window: str, metrics: dict) -> None:
        """Publish a model's metrics over one time window (``n`` included, so an empty window shows as 0)."""
        for name in ("roc_auc", "log_loss", "accuracy", "n"):
            if metrics.get(name) is not None:
                self._window_metric.labels(self.pipeline, model, name, window).set(metrics[name])

    def set_model_figures(self, model: str, samples: int, figures: dict) -> None:
        """Publish a model's sample count and every numeric figure of a snapshot (ranking learners)."""
        self._samples.labels(self.pipeline, model).set(samples)
        for name, value in figures.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._metric.labels(self.pipeline, model, name).set(value)

    def set_model_window_figures(self, model: str, window: str, figures: dict) -> None:
        """Publish every numeric figure of a model over one time window (ranking learners)."""
        for name, value in figures.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._window_metric.labels(self.pipeline, model, name, window).set(value)

    def set_catalog(self, figures: dict) -> None:
        """Catalog coverage, popularity concentration and new-item share of what was recommended."""
        for name, value in figures.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._catalog.labels(self.pipeline, name).set(value)

    def set_detector_updates(self, group: str, n: int) -> None:
        """Values fed to a detector group (feature, prediction, concept) since first start."""
        self._detector_updates.labels(self.pipeline, group).set(n)

    def checkpoint(self, outcome: str) -> None:
        """Count a checkpoint (saved, failed)."""
        self._checkpoints.labels(self.pipeline, outcome).inc()

    def restored(self, component: str, status: int) -> None:
        """Record how a state component came back."""
        self._restored.labels(self.pipeline, component).set(status)

    def shadow_records(self, n: int) -> None:
        """Count shadow records published."""
        self._shadow_records.inc(n)
