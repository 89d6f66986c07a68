"""Reading a worker's /metrics: histogram quantiles as PromQL computes them, real exposition text."""

from prometheus_client import generate_latest

from engine.metrics.serve_metrics import ServeMetrics
from engine.observe.live_view import LiveState, render
from engine.observe.scrape import Histogram, scrape


def test_quantile_interpolates_inside_the_bucket() -> None:
    h = Histogram([(0.01, 50.0), (0.02, 90.0), (0.05, 100.0), (float("inf"), 100.0)], 100.0, 1.5)
    assert h.quantile(0.5) == 0.01
    assert abs(h.quantile(0.7) - 0.015) < 1e-12
    assert abs(h.quantile(0.99) - 0.047) < 1e-12
    assert Histogram().quantile(0.5) is None
    window = h.minus(Histogram([(0.01, 50.0), (0.02, 50.0), (0.05, 50.0), (float("inf"), 50.0)], 50.0, 0.5))
    assert window.count == 50.0 and abs(window.quantile(0.5) - 0.01625) < 1e-12


def test_scrape_reads_what_serve_metrics_exposes(monkeypatch) -> None:
    metrics = ServeMetrics("fraud")
    metrics.events_in.inc(10)
    metrics.events_out.inc(8)
    metrics.dead_letter("not_json", 2)
    metrics.end_to_end_latency.observe_many(__import__("numpy").full(8, 0.012))
    text = generate_latest(metrics.registry)

    class _Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def read(self):
            return text

    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: _Response())
    snap = scrape("http://x/metrics")
    assert (snap.consumed, snap.scored, snap.dead_letters) == (10, 8, {"not_json": 2})
    assert snap.end_to_end.count == 8 and 0.01 <= snap.end_to_end.quantile(0.5) <= 0.015
    state = LiveState()
    state.add(snap)
    render(state)  # renders without a second snapshot


def test_scrape_returns_none_when_nobody_answers() -> None:
    assert scrape("http://127.0.0.1:1/metrics", timeout_s=0.5) is None


def test_bulk_histogram_matches_prometheus_client_histogram() -> None:
    import numpy as np
    from prometheus_client import CollectorRegistry
    from prometheus_client import Histogram as ClientHistogram

    from engine.metrics.bulk_histogram import BulkHistogram

    values = np.array([0.0005, 0.001, 0.0011, 0.02, 0.5, 7.0, 100.0])
    buckets = (0.001, 0.01, 0.1, 1.0, 10.0)
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    BulkHistogram("lat", "x", buckets, {"pipeline": "p"}, ours).observe_many(values)
    reference = ClientHistogram("lat", "x", ["pipeline"], buckets=buckets, registry=theirs).labels("p")
    for v in values:
        reference.observe(float(v))
    for name in ("lat_bucket", "lat_count", "lat_sum"):
        got = sorted((tuple(sorted(s.labels.items())), s.value) for f in ours.collect() for s in f.samples if s.name == name)
        want = sorted((tuple(sorted(s.labels.items())), s.value) for f in theirs.collect() for s in f.samples if s.name == name)
        assert got == want, name
