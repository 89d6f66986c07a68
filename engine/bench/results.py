"""Benchmark figures: one result per contender, the ratios the issue asks for, and the targets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Keys every JSON row carries first, in this order (the issue's contract); extras follow.
ROW_KEYS: tuple[str, ...] = ("name", "events_per_s", "p50_ms", "p95_ms", "p99_ms", "cpu_s_per_1k", "rss_mb")


@dataclass
class ContenderResult:
    """What one contender did.

    Attributes:
        name: Row name.
        events_per_s: Sustained saturated throughput in input events (recs: ranking requests) per
            second (see ``throughput_basis``); the Triton ceiling counts the events of the batches it sent.
        p50_ms: Median produce→output latency at the paced rate, from record timestamps.
        p95_ms: 95th percentile of the same.
        p99_ms: 99th percentile of the same.
        cpu_s_per_1k: CPU-seconds of the contender's process tree per 1,000 events (saturated run,
            from its first output to its last, so start-up is not counted).
        rss_mb: Peak resident memory of the contender's process tree, MiB.
        rows_per_s: Model rows per second, saturated (recs: candidate rows; fraud: = events/s). The
            Triton ceiling counts the rows it sent; a contender reading Kafka gets events/s × the
            dataset's average rows per event; None for the Kafka ceiling (it infers nothing).
        visible_p50_ms: Median produce→visible latency (read_committed reader's receive time).
        visible_p95_ms: 95th percentile of the same.
        visible_p99_ms: 99th percentile of the same.
        max_process_rss_mb: Peak RSS of the largest single process (per-worker figure).
        expected: Events offered in the saturated run.
        events_out: Output records of the saturated run.
        distinct_out: Distinct event ids among them.
        complete: Every event scored exactly once (``events_out == distinct_out == expected``).
        capped: The saturated run hit its time cap; events/s is extrapolated from what it did.
        throughput_basis: How ``events_per_s`` was computed.
        paced_rate: Offered rate of the paced run (events/s).
        paced_events: Events offered in the paced run.
        paced_missing: Paced events whose output never arrived.
        server_cpu_s_per_1k: Broker/Triton CPU-seconds per 1,000 events in the saturated window.
        paced_cpu_s_per_1k: The contender's CPU-seconds per 1,000 events during the paced run (small
            batches cost more per event than the saturated run's full ones).
        load_generator_cpu_s_per_1k: The bench process's own CPU (paced producer and latency reader)
            per 1,000 paced events: on a small box it competes with the contender for the same cores.
        saturated_seconds: Wall time of the saturated run from process start to done.
        settings: How the contender was configured.
        error: Why the row is incomplete, if it is.
    """

    name: str
    events_per_s: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    cpu_s_per_1k: float | None = None
    rss_mb: float | None = None
    rows_per_s: float | None = None
    visible_p50_ms: float | None = None
    visible_p95_ms: float | None = None
    visible_p99_ms: float | None = None
    max_process_rss_mb: float | None = None
    expected: int = 0
    events_out: int = 0
    distinct_out: int = 0
    complete: bool = False
    capped: bool = False
    throughput_basis: str = ""
    paced_rate: float | None = None
    paced_events: int = 0
    paced_missing: int = 0
    server_cpu_s_per_1k: dict[str, float] = field(default_factory=dict)
    paced_cpu_s_per_1k: float | None = None
    load_generator_cpu_s_per_1k: float | None = None
    saturated_seconds: float | None = None
    settings: str = ""
    error: str = ""

    def to_row(self) -> dict[str, Any]:
        """JSON row: the contract keys first, then every extra figure."""
        data = asdict(self)
        row = {key: data.pop(key) for key in ROW_KEYS}
        row.update(data)
        return row


def throughput_bound(kafka_ceiling: float | None, triton_ceiling: float | None) -> float | None:
    """What a pipeline doing both jobs one after another could reach: 1 / (1/kafka + 1/triton)."""
    if not kafka_ceiling or not triton_ceiling:
        return None
    return 1.0 / (1.0 / kafka_ceiling + 1.0 / triton_ceiling)


def compute_ratios(rows: dict[str, ContenderResult]) -> dict[str, float | None]:
    """``engine_vs_bound``, ``engine_vs_naive``, ``engine_vs_faust`` for the exactly-once engine (the
    default delivery), plus the at-least-once engine against the bound. None where a figure is missing."""

    def rate(name: str) -> float | None:
        row = rows.get(name)
        return row.events_per_s if row and row.events_per_s else None

    def ratio(numerator: float | None, denominator: float | None) -> float | None:
        return round(numerator / denominator, 3) if numerator and denominator else None

    bound = throughput_bound(rate("kafka_ceiling"), rate("triton_ceiling"))
    engine = rate("engine_eos")
    return {
        "engine_vs_bound": ratio(engine, bound),
        "engine_vs_naive": ratio(engine, rate("naive")),
        "engine_vs_faust": ratio(engine, rate("faust")),
        "engine_alo_vs_bound": ratio(rate("engine_alo"), bound),
        "bound_events_per_s": round(bound, 1) if bound else None,
    }


def check_targets(rows: dict[str, ContenderResult], ratios: dict[str, float | None],
                  commit_interval_ms: int) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it was met (reported, never asserted)."""
    eos, alo = rows.get("engine_eos"), rows.get("engine_alo")
    engines = [row for name, row in rows.items() if name.startswith("engine_")]
    worst_rss = max((row.max_process_rss_mb or 0.0 for row in engines), default=None)

    def target(name: str, value: float | None, limit: float, at_least: bool) -> dict[str, Any]:
        met = None if value is None else (value >= limit if at_least else value <= limit)
        return {"target": name, "value": value, "limit": limit, "met": met}

    return [
        target("engine_vs_bound >= 0.8", ratios.get("engine_vs_bound"), 0.8, True),
        target("engine_vs_naive >= 30", ratios.get("engine_vs_naive"), 30.0, True),
        target("engine_vs_faust >= 2", ratios.get("engine_vs_faust"), 2.0, True),
        target("at-least-once p99 <= 20 ms at 50% load (record timestamps)", alo.p99_ms if alo else None, 20.0, False),
        target("at-least-once p99 <= 20 ms at 50% load (visible)", alo.visible_p99_ms if alo else None, 20.0, False),
        target(f"exactly-once p99 <= {2 * commit_interval_ms} ms (record timestamps)",
               eos.p99_ms if eos else None, 2.0 * commit_interval_ms, False),
        target(f"exactly-once p99 <= {2 * commit_interval_ms} ms (visible)",
               eos.visible_p99_ms if eos else None, 2.0 * commit_interval_ms, False),
        target("RSS <= 500 MB per worker", round(worst_rss, 1) if worst_rss else None, 500.0, False),
    ]


@dataclass
class BenchReport:
    """A whole run: rows in table order, ratios, targets, machine and settings."""

    rows: list[ContenderResult]
    ratios: dict[str, float | None]
    targets: list[dict[str, Any]]
    machine: dict[str, Any]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {"rows": [row.to_row() for row in self.rows], "ratios": self.ratios, "targets": self.targets,
                "machine": self.machine, "settings": self.settings}
