"""Reads a worker's Prometheus endpoint into a snapshot the live view and the demo summary use."""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Histogram:
    """Cumulative bucket counts of one Prometheus histogram."""

    buckets: list[tuple[float, float]] = field(default_factory=list)  # (upper bound, cumulative count)
    count: float = 0.0
    total: float = 0.0

    def quantile(self, q: float) -> float | None:
        """Linear interpolation inside the bucket, as PromQL's histogram_quantile does."""
        if self.count <= 0 or not self.buckets:
            return None
        rank = q * self.count
        previous_bound, previous_count = 0.0, 0.0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                if bound == float("inf"):
                    return previous_bound
                span = cumulative - previous_count
                fraction = 0.0 if span <= 0 else (rank - previous_count) / span
                return previous_bound + (bound - previous_bound) * fraction
            previous_bound, previous_count = bound, cumulative
        return previous_bound

    def minus(self, earlier: "Histogram") -> "Histogram":
        """Observations between ``earlier`` and this one (for windowed percentiles)."""
        before = dict(earlier.buckets)
        return Histogram([(b, c - before.get(b, 0.0)) for b, c in self.buckets],
                         self.count - earlier.count, self.total - earlier.total)


@dataclass
class MetricsSnapshot:
    """What one scrape of a serve worker said."""

    at: float
    consumed: float = 0.0
    scored: float = 0.0
    dead_letters: dict[str, float] = field(default_factory=dict)
    batch_rows: Histogram = field(default_factory=Histogram)
    end_to_end: Histogram = field(default_factory=Histogram)
    triton: Histogram = field(default_factory=Histogram)
    in_flight: float = 0.0
    breaker_state: float = 0.0
    lag: float = 0.0
    transactions: float = 0.0
    assigned_partitions: float = 0.0
    version_events: dict[tuple[str, str], float] = field(default_factory=dict)  # (version, role) → events
    rollout_generation: float = -1.0
    candidate_weight: float = 0.0
    fallbacks: float = 0.0


def fetch(url: str, timeout_s: float = 2.0) -> str | None:
    """The exposition text at ``url``; None when nobody answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read().decode()
    except OSError:
        return None


def scrape(url: str, timeout_s: float = 2.0) -> MetricsSnapshot | None:
    """Scrape ``url`` (``http://host:port/metrics``); None when the worker does not answer."""
    text = fetch(url, timeout_s)
    if text is None:
        return None
    snap = MetricsSnapshot(at=time.monotonic())
    histograms = {"streaminfer_batch_rows": snap.batch_rows,
                  "streaminfer_end_to_end_latency_seconds": snap.end_to_end,
                  "streaminfer_triton_latency_seconds": snap.triton}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "streaminfer_events_consumed_total":
                snap.consumed += value
            elif name == "streaminfer_events_scored_total":
                snap.scored += value
            elif name == "streaminfer_dead_letters_total":
                snap.dead_letters[labels["reason"]] = snap.dead_letters.get(labels["reason"], 0.0) + value
            elif name == "streaminfer_inflight_batches":
                snap.in_flight = value
            elif name == "streaminfer_assigned_partitions":
                snap.assigned_partitions += value
            elif name == "streaminfer_breaker_state":
                snap.breaker_state = value
            elif name == "streaminfer_consumer_lag":
                snap.lag += value
            elif name == "streaminfer_model_events_total":
                key = (labels.get("version", ""), labels.get("role", ""))
                snap.version_events[key] = snap.version_events.get(key, 0.0) + value
            elif name == "streaminfer_rollout_generation":
                snap.rollout_generation = value
            elif name == "streaminfer_rollout_candidate_weight_percent":
                snap.candidate_weight = value
            elif name == "streaminfer_rollout_fallbacks_total":
                snap.fallbacks += value
            elif name == "streaminfer_transactions_total" and labels.get("outcome") == "committed":
                snap.transactions += value
            elif name.endswith("_bucket") and name[: -len("_bucket")] in histograms:
                histograms[name[: -len("_bucket")]].buckets.append((float(labels["le"]), value))
            elif name.endswith("_count") and name[: -len("_count")] in histograms:
                histograms[name[: -len("_count")]].count = value
            elif name.endswith("_sum") and name[: -len("_sum")] in histograms:
                histograms[name[: -len("_sum")]].total = value
    for histogram in histograms.values():
        histogram.buckets.sort()
    return snap
