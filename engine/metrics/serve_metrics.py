"""Prometheus metrics of the hot path (prometheus-client). One instance per process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from engine.metrics.bulk_histogram import BulkHistogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15,
                    0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)
_ROW_BUCKETS = (1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


class ServeMetrics:
    """Counters, gauges and histograms of one serve worker, labelled by pipeline.

    Args:
        pipeline: Pipeline name, a constant label.
        registry: Where to register (a private registry in tests).
    """

    def __init__(self, pipeline: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["pipeline"]
        kw = {"registry": self.registry}
        self.events_in = Counter("streaminfer_events_consumed", "Records consumed from the input topic.", labels, **kw).labels(pipeline)
        self.events_out = Counter("streaminfer_events_scored", "Scores published.", labels, **kw).labels(pipeline)
        self._dead_letters = Counter("streaminfer_dead_letters", "Records sent to the dead-letter topic.",
                                     [*labels, "reason"], **kw)
        self.batch_rows = Histogram("streaminfer_batch_rows", "Rows per Triton request.", labels,
                                    buckets=_ROW_BUCKETS, **kw).labels(pipeline)
        self.triton_latency = Histogram("streaminfer_triton_latency_seconds", "Triton request latency.", labels,
                                        buckets=_LATENCY_BUCKETS, **kw).labels(pipeline)
        # Per-event: fed a whole batch at a time (see BulkHistogram).
        self.end_to_end_latency = BulkHistogram(
            "streaminfer_end_to_end_latency_seconds", "Input record timestamp → score produced.",
            _LATENCY_BUCKETS, {"pipeline": pipeline}, self.registry)
        self.engine_latency = Histogram("streaminfer_engine_latency_seconds", "Consumed → score produced.",
                                        labels, buckets=_LATENCY_BUCKETS, **kw).labels(pipeline)
        self._lag = Gauge("streaminfer_consumer_lag", "High watermark minus position.", [*labels, "topic", "partition"], **kw)
        self.assigned_partitions = Gauge("streaminfer_assigned_partitions", "Input partitions this worker owns.",
                                         labels, **kw).labels(pipeline)
        self.in_flight = Gauge("streaminfer_inflight_batches", "Batches in flight to Triton.", labels, **kw).labels(pipeline)
        self.breaker_state = Gauge("streaminfer_breaker_state", "0 closed, 1 open, 2 half-open.", labels, **kw).labels(pipeline)
        self._inference_errors = Counter("streaminfer_inference_errors", "Failed Triton requests.", [*labels, "kind"], **kw)
        self._transactions = Counter("streaminfer_transactions", "Kafka transactions by outcome.", [*labels, "outcome"], **kw)
        self.paused = Gauge("streaminfer_consumption_paused", "1 while the worker has paused its partitions.",
                            labels, **kw).labels(pipeline)
        self._pauses = Counter("streaminfer_consumption_pauses", "Times consumption paused, by cause "
                               "(backlog: too much buffered; breaker: Triton down).", [*labels, "reason"], **kw)
        self.buffered = Gauge("streaminfer_buffered_records", "Records consumed and not yet published.",
                              labels, **kw).labels(pipeline)
        self.producer_queue_full = Counter("streaminfer_producer_queue_full", "Times the producer's local queue "
                                           "was full (BufferError) and the worker waited for deliveries.",
                                           labels, **kw).labels(pipeline)
        self.rewinds = Counter("streaminfer_rewinds", "Times the worker rewound to committed offsets.", labels, **kw).labels(pipeline)
        # Per model version, so a rollout's candidate and champion sit side by side on one dashboard.
        version_labels = [*labels, "version", "role"]
        self._version_events = Counter("streaminfer_model_events", "Events whose published output a model "
                                       "version produced (role: champion, candidate; mirror outputs go to "
                                       "the mirror topic).", version_labels, **kw)
        self._version_latency = Histogram("streaminfer_model_request_latency_seconds", "Triton request latency "
                                          "per model version.", version_labels, buckets=_LATENCY_BUCKETS, **kw)
        self._version_errors = Counter("streaminfer_model_request_errors", "Failed Triton requests per model "
                                       "version.", version_labels, **kw)
        self._fallbacks = Counter("streaminfer_rollout_fallbacks", "Candidate-routed events the champion served "
                                  "because the candidate failed or was benched.", labels, **kw).labels(pipeline)
        self.rollout_generation = Gauge("streaminfer_rollout_generation", "Generation of the rollout plan "
                                        "this worker applies (-1: none).", labels, **kw).labels(pipeline)
        self.rollout_weight = Gauge("streaminfer_rollout_candidate_weight_percent", "Percent of entity keys "
                                    "routed to the candidate by the plan in force.", labels, **kw).labels(pipeline)
        self.rollout_generation.set(-1)
        self._pipeline = pipeline

    def version_request(self, version: str, role: str, latency_s: float, ok: bool) -> None:
        """Count one Triton request of a model version (``role``: champion, candidate, mirror)."""
        self._version_latency.labels(self._pipeline, version, role).observe(latency_s)
        if not ok:
            self._version_errors.labels(self._pipeline, version, role).inc()

    def version_events(self, version: str, role: str, count: int) -> None:
        """Count published outputs produced by a model version."""
        if count:
            self._version_events.labels(self._pipeline, version, role).inc(count)

    def fallbacks(self, count: int) -> None:
        """Count candidate-routed events served by the champion."""
        if count:
            self._fallbacks.inc(count)

    def dead_letter(self, reason: str, count: int = 1) -> None:
        """Count ``count`` dead letters for ``reason``."""
        self._dead_letters.labels(self._pipeline, reason).inc(count)

    def paused_for(self, reason: str) -> None:
        """Count one pause of consumption for ``reason`` (``backlog`` or ``breaker``)."""
        self._pauses.labels(self._pipeline, reason).inc()

    def inference_error(self, kind: str) -> None:
        """Count a failed Triton request (``unavailable`` or ``model_error``)."""
        self._inference_errors.labels(self._pipeline, kind).inc()

    def transaction(self, outcome: str) -> None:
        """Count a transaction outcome (``committed`` / ``aborted``)."""
        self._transactions.labels(self._pipeline, outcome).inc()

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """Record consumer lag of one partition."""
        self._lag.labels(self._pipeline, topic, str(partition)).set(lag)

    def serve_http(self, host: str, port: int) -> None:
        """Expose ``/metrics`` on ``host:port`` (0 = disabled)."""
        if port:
            start_http_server(port, addr=host, registry=self.registry)
