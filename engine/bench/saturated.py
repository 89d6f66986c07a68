"""The saturated run: all N events already in the input topic, the contender consumes as fast as it can."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from engine.bench.contenders.base import Contender, RunSpec
from engine.bench.latency import scan_output
from engine.bench.process import ContenderProcess
from engine.bench.process_stats import ServerCpu
from engine.bench.results import ContenderResult
from engine.bench.watch import OutputWatcher

#: Rows the Triton ceiling infers at least, so that it runs for seconds, not milliseconds.
MIN_TRITON_ROWS = 1_000_000


def run_saturated(contender: Contender, spec: RunSpec, expected: int, cap_s: float, log_dir: Path,
                  servers: ServerCpu, say: Callable[[str], None], *, id_field: str) -> ContenderResult:
    """Run ``contender`` over the pre-produced input until all ``expected`` events are out (or the cap).

    events/s = N / (moment all N outputs were visible − timestamp of the first output record), so
    process start-up and group join do not count but the last commit does. A capped contender gets
    outputs / (last − first output record timestamp) over what it did.

    Args:
        contender: The launcher.
        spec: Its run spec (input = the dataset topic, fresh output topic).
        expected: Events in the input topic.
        cap_s: Time cap (the contender is stopped then, its figures extrapolated).
        log_dir: Where its log goes.
        servers: Broker/Triton CPU counters.
        say: Progress lines.
        id_field: Output record field naming the event it is for (distinct outputs are counted by it).

    Returns:
        The row, without the paced-run latencies (and without rows/s: the runner knows rows per event).
    """
    result = ContenderResult(contender.name, expected=expected, settings=contender.settings_note())
    process = ContenderProcess(contender.command(spec), contender.env(spec),
                               log_dir / f"{contender.name}-saturated.log")
    watcher = OutputWatcher(spec.bootstrap, spec.output_topic, spec.input_topic, spec.group_id,
                            contender.transactional)
    try:
        progress = process.watch(watcher.count, expected, cap_s, servers)
    finally:
        watcher.close()
        code = process.stop()
    result.saturated_seconds = round(progress.samples[-1].at - process.started, 2)
    result.capped = progress.timed_out
    result.cpu_s_per_1k = _round(progress.cpu_s_per_1k(), 4)
    result.server_cpu_s_per_1k = progress.server_cpu_s_per_1k()
    result.rss_mb = round(process.sampler.peak_rss_mb, 1)
    result.max_process_rss_mb = round(process.sampler.peak_process_rss_mb, 1)
    if progress.exited is not None and not progress.reached:
        result.error = f"exited with {progress.exited} before finishing: {process.log_tail()}"
    elif code not in (0, None) and not result.capped:  # a capped run is stopped mid-flight
        result.error = f"exit code {code} after SIGTERM: {process.log_tail()}"
    scan = scan_output(spec.bootstrap, spec.output_topic, expected if not result.capped else 0, id_field=id_field)
    result.events_out, result.distinct_out = scan.records, scan.distinct
    result.complete = scan.records == scan.distinct == expected
    if progress.reached and scan.first_ms is not None:
        # Until every output was visible (committed), not just handed to a producer: librdkafka queues
        # and open transactions would otherwise make short runs look faster than they are.
        seconds = max(0.001, progress.samples[-1].wall - scan.first_ms / 1000.0)
        result.events_per_s = round(expected / seconds, 1)
        result.throughput_basis = "N / (all N visible − first output record timestamp)"
    elif scan.records:
        result.events_per_s = round(scan.records / scan.span_s, 1)
        result.throughput_basis = "outputs / (last − first output record timestamp), run capped"
    say(f"{contender.name}: {result.events_per_s or 0:,.0f} events/s saturated "
        f"({scan.records:,}/{expected:,} out{', capped' if result.capped else ''})")
    return result


def run_standalone(contender: Contender, spec: RunSpec, cap_s: float, log_dir: Path,
                   say: Callable[[str], None]) -> ContenderResult:
    """Run a contender that measures itself (the Triton ceiling) and read the figures it wrote.

    events/s is the events whose encoded batches were inferred per second, rows/s the model rows (the
    same figure when every event is one row).
    """
    result = ContenderResult(contender.name, expected=spec.rows, settings=contender.settings_note())
    Path(spec.result_path).unlink(missing_ok=True)
    process = ContenderProcess(contender.command(spec), contender.env(spec), log_dir / f"{contender.name}.log")
    progress = process.watch(lambda: 0, 1, cap_s)
    code = process.stop()
    result.saturated_seconds = round(progress.samples[-1].at - process.started, 2)
    result.rss_mb = round(process.sampler.peak_rss_mb, 1)
    result.max_process_rss_mb = round(process.sampler.peak_process_rss_mb, 1)
    try:
        figures = orjson.loads(Path(spec.result_path).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        result.error = f"no figures (exit {code}, timed out: {progress.timed_out}): {process.log_tail()}"
        return result
    result.rows_per_s = round(figures["rows_per_s"], 1)
    result.events_per_s = round(figures.get("events_per_s", figures["rows_per_s"]), 1)
    result.events_out = result.distinct_out = figures["rows"]
    # Whole batches are sent, so a few rows more than asked for is complete too.
    result.complete = figures["errors"] == 0 and figures["rows"] >= spec.rows
    # Per 1,000 events like every other row (per 1,000 rows, the same thing, for one-row events).
    result.cpu_s_per_1k = round(figures["cpu_s"] / (figures.get("events", figures["rows"]) / 1000.0), 4)
    result.throughput_basis = (f"rows (events) / wall time of {figures['rows']:,} rows "
                               f"({figures.get('events', figures['rows']):,} events); request p50 "
                               f"{figures['request_p50_ms']} ms, p99 {figures['request_p99_ms']} ms")
    if figures["errors"]:
        result.error = f"{figures['errors']} failed requests: {figures['first_error']}"
    say(f"{contender.name}: {result.rows_per_s:,.0f} rows/s, {result.events_per_s:,.0f} events/s")
    return result


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
