"""One pipeline's hot path live in the demo: ``serve`` + its plugin's generator + the live view +
a summary. Domain-free: the pipeline's plugin says what its events and outputs look like."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import orjson
from confluent_kafka import Message
from rich.console import Console
from rich.live import Live

from engine.config.pipeline import load_pipeline
from engine.demo.support import NoLive, wait_for_assignment
from engine.generate.stream import EventStreamProducer, StreamReport
from engine.inference.model_control import ModelControl
from engine.observe.live_view import LiveState, render
from engine.observe.scrape import MetricsSnapshot, scrape
from engine.observe.tail import TopicTail
from engine.pipeline.loader import load_plugin
from engine.stack.manager import LocalStack


class HotPathDemo:
    """Runs ``pipeline`` for ``seconds`` at ``rate`` events/s on a stack that is already up.

    Args:
        stack: The running local stack.
        pipeline: Shipped pipeline name.
        seconds: How long the generator runs.
        rate: Events offered per second.
        malformed: Malformed records mixed in.
        metrics_port: The worker's /metrics port.
        console: Where to print.
    """

    def __init__(self, stack: LocalStack, pipeline: str, seconds: float, rate: float, malformed: int,
                 metrics_port: int, console: Console) -> None:
        self.stack, self.name = stack, pipeline
        self.seconds, self.rate, self.malformed, self.metrics_port = seconds, rate, malformed, metrics_port
        self.console = console
        self.settings = load_pipeline(pipeline, **{"metrics.port": metrics_port})
        self.plugin = load_plugin(self.settings.plugin, self.settings.plugin_options)
        self.state = LiveState(summarize=self.plugin.summarize_output, unit=f"{self.settings.name} outputs")

    def prepare_model(self) -> None:
        """Build the pipeline's model if the repository has none (cached training), then load it."""
        repository, name = self.stack.settings.model_repository, self.settings.triton.model_name
        if not ModelControl.versions_on_disk(repository, name):
            build = self.plugin.build_model(repository)
            self.console.print(f"[dim]exported {name} v{build.version} ({'cached' if build.from_cache else 'trained'})[/]")
            for line in self.plugin.describe_metrics(build.metrics or {})[:2]:
                self.console.print(f"[dim]  {line}[/]")
        control = ModelControl(self.stack.settings.triton_http_url)
        control.load(name)
        self.console.print(f"[dim]Triton ready versions of {name}: {control.ready_versions(name)}[/]")

    def run(self) -> tuple[StreamReport, MetricsSnapshot | None]:
        """Serve, generate, watch until everything produced is answered; returns what was produced and
        the worker's last metrics."""
        worker = self.start_worker()
        bootstrap = self.settings.kafka.bootstrap_servers
        tail = TopicTail(bootstrap, self.settings.topics.output, self._on_output, f"demo-{self.name}")
        report = StreamReport()
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        count = int(self.rate * self.seconds)

        def generate() -> None:
            producer = EventStreamProducer(bootstrap, self.settings.topics.input, self.plugin)
            seed = 7 + int(time.time()) % 100_000  # fresh ids per run on the same topics
            report.__dict__.update(producer.run(self.plugin.synthetic_events(seed), count, rate=self.rate,
                                                malformed=self.malformed, seed=seed).__dict__)

        generator = threading.Thread(target=generate, daemon=True)
        try:
            tail.start()
            wait_for_assignment(worker, url)
            generator.start()
            self._watch(worker, generator, url, count + self.malformed)
            final = scrape(url)
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
            wait_or_kill(worker)
            tail.stop()
            generator.join(timeout=5)
        return report, final

    def start_worker(self) -> subprocess.Popen:
        """``streaminfer serve --pipeline <name>`` as a child (returns at once; stderr to the stack's home)."""
        home = self.stack.settings.home
        with open(home / f"demo-serve-{self.name}.log", "ab") as stderr:  # the child keeps its own descriptor
            return subprocess.Popen(
                [sys.executable, "-m", "engine.cli.main", "serve", "--pipeline", self.name,
                 "--metrics-port", str(self.metrics_port), "--log-level", "WARNING"],
                env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=stderr)

    def summary(self, report: StreamReport, final: MetricsSnapshot | None) -> None:
        """What was produced, answered and dead-lettered, and how fast."""
        self.console.print(f"produced {report.events:,} {self.name} events + {report.malformed} malformed in "
                           f"{report.seconds:.1f}s")
        self.serve_summary(final)

    def serve_summary(self, final: MetricsSnapshot | None) -> None:
        """The worker's side: answered, dead-lettered, latency, two sample outputs."""
        say = self.console.print
        if final is None:
            say("[red]no final metrics: the worker did not answer[/]")
            return
        e2e, rows = final.end_to_end, final.batch_rows
        say(f"answered {final.scored:,.0f}, dead-lettered {sum(final.dead_letters.values()):.0f} "
            f"{dict(sorted(final.dead_letters.items()))}")
        say(f"end-to-end latency p50 {e2e.quantile(0.5) * 1000:.1f} ms, p95 {e2e.quantile(0.95) * 1000:.1f} ms, "
            f"p99 {e2e.quantile(0.99) * 1000:.1f} ms; mean batch {rows.total / max(rows.count, 1):.0f} events")
        for record in list(self.state.samples)[-2:]:
            identity, result = self.plugin.summarize_output(record)
            say(f"  {identity}: {result}")

    def _on_output(self, message: Message) -> None:
        if len(self.state.samples) < 3 or message.offset() % 53 == 0:
            self.state.samples.append(orjson.loads(message.value()))

    def _watch(self, worker: subprocess.Popen, generator: threading.Thread, url: str, expected: int) -> None:
        deadline = time.monotonic() + self.seconds + 60
        interactive = self.console.is_terminal
        title = f"streaminfer serve — {self.name}"
        live = Live(render(self.state, title), console=self.console, refresh_per_second=4) if interactive else None
        last_line = 0.0
        with live if live is not None else NoLive():
            while time.monotonic() < deadline:
                snap = scrape(url)
                self.state.add(snap)
                if live is not None:
                    live.update(render(self.state, title))
                elif time.monotonic() - last_line >= 5:
                    last_line = time.monotonic()
                    self.console.print(render(self.state, title))
                if not generator.is_alive() and snap is not None and snap.consumed >= expected and not snap.in_flight:
                    return
                if worker.poll() is not None:
                    self.state.notes.append(f"[red]worker exited with {worker.returncode}[/]")
                    return
                time.sleep(0.5)


def wait_or_kill(process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Wait for a child that was asked to stop; kill it if it hangs."""
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
