"""The paced run: a fresh input topic fed at a fixed share of the contender's saturated rate, while a
read_committed reader notes when each output appears."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from engine.bench.contenders.base import Contender, RunSpec
from engine.bench.latency import LatencyReader
from engine.bench.pacer import PacedProducer
from engine.bench.process import ContenderProcess
from engine.bench.results import ContenderResult
from engine.bench.watch import OutputWatcher

#: Warm-up events: one every WARMUP_INTERVAL_S until the first output shows the contender is serving.
WARMUP_INTERVAL_S = 0.1
WARMUP_CAP_S = 90.0
#: After the last paced event: how long the contender gets to finish (beyond the paced time).
DRAIN_CAP_S = 30.0


def run_paced(contender: Contender, spec: RunSpec, pool: Sequence[tuple[bytes, bytes, str]], rate: float,
              seconds: float, result: ContenderResult, log_dir: Path, say: Callable[[str], None], *,
              id_field: str) -> None:
    """Offer ``rate`` events/s for ``seconds`` to a running contender; fill the latency fields of ``result``.

    Latency is only taken from events offered after the contender served its first (warm-up) event, so
    process start-up and group join are not counted as latency.

    Args:
        contender: The launcher.
        spec: Its run spec (fresh input and output topics).
        pool: Events to replay ``(key, value, output id)``; warm-ups come first, then the paced ones.
        rate: Offered events/s.
        seconds: Length of the paced offering.
        result: The contender's row (saturated figures already in).
        log_dir: Where its log goes.
        say: Progress lines.
        id_field: Output record field naming the event it is for (outputs are matched to inputs by it).
    """
    reader = LatencyReader(spec.bootstrap, spec.output_topic, id_field).start()
    producer = PacedProducer(spec.bootstrap, spec.input_topic)
    process = ContenderProcess(contender.command(spec), contender.env(spec), log_dir / f"{contender.name}-paced.log")
    watcher = OutputWatcher(spec.bootstrap, spec.output_topic, spec.input_topic, spec.group_id,
                            contender.transactional)
    try:
        warmups = _warm_up(producer, reader, process, pool, spec)
        if warmups is None:
            result.error = result.error or f"paced run: no output after {WARMUP_CAP_S:.0f}s: {process.log_tail()}"
            return
        paced = pool[warmups: warmups + max(1, int(rate * seconds))]
        bench_cpu, contender_cpu = _own_cpu_s(), process.sampler.sample().cpu_s
        offered = producer.run(paced, rate, seconds + 5.0, should_stop=lambda: process.proc.poll() is not None)
        produced = len(producer.produced_ms)
        process.watch(watcher.count, warmups + produced, DRAIN_CAP_S)
        bench_cpu = _own_cpu_s() - bench_cpu
        contender_cpu = process.sampler.sample().cpu_s - contender_cpu
        time.sleep(0.3)  # the reader's last fetch
    finally:
        watcher.close()
        process.stop()
        reader.stop()
    record, visible, missing = reader.latencies(producer.produced_ms)
    result.paced_rate = round(offered, 1)
    result.paced_events = produced
    result.paced_missing = missing
    result.load_generator_cpu_s_per_1k = round(bench_cpu / max(produced, 1) * 1000.0, 4)
    result.paced_cpu_s_per_1k = round(contender_cpu / max(produced, 1) * 1000.0, 4)
    result.p50_ms, result.p95_ms, result.p99_ms = record.p50, record.p95, record.p99
    result.visible_p50_ms, result.visible_p95_ms, result.visible_p99_ms = visible.p50, visible.p95, visible.p99
    say(f"{contender.name}: paced {offered:,.0f}/s x {produced:,}: p50 {record.p50} p99 {record.p99} ms "
        f"(visible p99 {visible.p99} ms){f', {missing} missing' if missing else ''}")


def _own_cpu_s() -> float:
    """CPU-seconds of this process: the paced producer and the latency reader share the contender's cores."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


def _group_settled(admin: AdminClient, group: str, members: int) -> bool:
    """The group is stable with ``members`` members (so no rebalance will pause the paced run)."""
    try:
        description = admin.describe_consumer_groups([group], request_timeout=5)[group].result(timeout=10)
    except Exception:  # noqa: BLE001 — not known yet, or a timeout: not settled
        return False
    return description.state == ConsumerGroupState.STABLE and len(description.members) >= members


def _warm_up(producer: PacedProducer, reader: LatencyReader, process: ContenderProcess,
             pool: Sequence[tuple[bytes, bytes, str]], spec: RunSpec) -> int | None:
    """Trickle events until the first output is visible and, with several workers, every worker has
    joined the group; returns how many events were used (None: never)."""
    deadline = time.monotonic() + WARMUP_CAP_S
    admin = AdminClient({"bootstrap.servers": spec.bootstrap}) if spec.workers > 1 else None
    used = 0
    while time.monotonic() < deadline and process.proc.poll() is None:
        if reader.count > 0 and (admin is None or _group_settled(admin, spec.group_id, spec.workers)):
            time.sleep(0.5)  # let the contender settle (assignment complete, first commit done)
            return used
        if used < len(pool) // 10:
            key, value, _ = pool[used]
            producer.produce_one(key, value)
            used += 1
        time.sleep(WARMUP_INTERVAL_S)
    return None
