"""``streaminfer demo``: the fraud pipeline live on the local real stack, start to finish.

stack up → topics apply → model build/load → serve worker → generator at a steady rate with a few
malformed events → live view → summary → worker drained → stack down (if the demo started it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass

import orjson
from confluent_kafka import OFFSET_END, Consumer, TopicPartition
from rich.console import Console
from rich.live import Live

from engine.config.pipeline import load_pipeline
from engine.generate.fraud_stream import FraudStreamProducer, GenerateOptions, GenerateReport
from engine.inference.model_control import ModelControl
from engine.observe.live_view import LiveState, render
from engine.observe.scrape import MetricsSnapshot, scrape
from engine.stack.manager import LocalStack
from engine.stack.settings import load_stack_settings


@dataclass(frozen=True)
class DemoOptions:
    """How long and how hard the demo drives the pipeline."""

    seconds: float = 30.0
    rate: float = 1000.0  # the learner (faust) shares the two cores: leave it room
    malformed: int = 20
    seed: int = 7
    metrics_port: int = 9464
    keep_stack: bool = False
    learn: bool = True          # run `streaminfer learn` beside the hot path
    drift_to: float = 1.0       # the generator's drift knob halfway through the run


class FraudDemo:
    """Runs the demo; every process it starts it also stops."""

    def __init__(self, options: DemoOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.stack = LocalStack(load_stack_settings(), say=lambda line: self.console.print(f"[dim]{line}[/]"))
        self.pipeline = load_pipeline("fraud", **{"metrics.port": options.metrics_port})
        self.state = LiveState()
        self.alerts: list[dict] = []

    def run(self) -> int:
        """Run the demo end to end; returns an exit code."""
        say = self.console.print
        stack_was_running = bool(self.stack.running())
        started = time.monotonic()
        say("[bold]1/5[/] stack up (Kafka 4.1 KRaft + Triton, no Docker)")
        self.stack.up()
        try:
            say("[bold]2/5[/] topics apply")
            self._apply_topics()
            say("[bold]3/5[/] model: build (cached) and load into Triton")
            self._build_model()
            say(f"[bold]4/5[/] serve + generator: {self.options.rate:.0f} events/s for {self.options.seconds:.0f}s, "
                f"{self.options.malformed} malformed (setup took {time.monotonic() - started:.0f}s)")
            report, final = self._run_live()
            say("[bold]5/5[/] summary")
            self._summary(report, final)
        finally:
            if not stack_was_running and not self.options.keep_stack:
                self.stack.down()
                say("stack stopped")
        return 0

    def _apply_topics(self) -> None:
        from engine.topics.apply import apply_topics
        from engine.topics.specs import TopicCatalog

        report = apply_topics(self.pipeline.kafka.bootstrap_servers, TopicCatalog.load())
        self.console.print(f"[dim]{report.render()}[/]")

    def _build_model(self) -> None:
        from models.fraud.export import build_fraud_model

        repository = self.stack.settings.model_repository
        if not ModelControl.versions_on_disk(repository, "fraud"):
            build = build_fraud_model(repository)
            test = build.metrics.get("test", {})
            self.console.print(f"[dim]exported fraud v{build.version} "
                               f"({'cached' if build.from_cache else 'trained'}; "
                               f"held-out ROC AUC {test.get('roc_auc', float('nan')):.3f}, "
                               f"PR AUC {test.get('pr_auc', float('nan')):.3f})[/]")
        control = ModelControl(self.stack.settings.triton_http_url)
        control.load("fraud")
        self.console.print(f"[dim]Triton ready versions of fraud: {control.ready_versions('fraud')}[/]")

    def _run_live(self) -> tuple[GenerateReport, MetricsSnapshot | None]:
        o = self.options
        worker = subprocess.Popen(
            [sys.executable, "-m", "engine.cli.main", "serve", "--pipeline", "fraud",
             "--metrics-port", str(o.metrics_port), "--log-level", "WARNING"],
            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=open(self.stack.settings.home / "demo-serve.log", "ab"),
        )
        learner = self._start_learner() if o.learn else None
        stop_sampler = threading.Event()
        sampler = threading.Thread(target=self._sample_scores, args=(stop_sampler,), daemon=True)
        sampler.start()
        threading.Thread(target=self._watch_alerts, args=(stop_sampler,), daemon=True).start()
        report = GenerateReport()
        generator = threading.Thread(target=self._generate, args=(report,), daemon=True)
        url = f"http://127.0.0.1:{o.metrics_port}/metrics"
        try:
            self._wait_for_assignment(worker, url)
            generator.start()
            deadline = time.monotonic() + o.seconds + 60  # generator time plus room to finish scoring
            interactive = self.console.is_terminal
            with Live(render(self.state), console=self.console, refresh_per_second=4,
                      transient=False) if interactive else _NoLive() as live:
                last_line = 0.0
                while time.monotonic() < deadline:
                    self.state.produced, self.state.malformed = report.events, report.malformed
                    self.state.add(scrape(url))
                    live.update(render(self.state))
                    if not interactive and time.monotonic() - last_line >= 5:
                        last_line = time.monotonic()
                        self.console.print(render(self.state))
                    if not generator.is_alive() and self._caught_up():
                        break
                    if worker.poll() is not None:
                        self.state.notes.append(f"[red]worker exited with {worker.returncode}[/]")
                        break
                    time.sleep(0.5)
            final = scrape(url)
        finally:
            for process in (worker, learner):
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in (worker, learner):
                if process is not None:
                    try:
                        process.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        process.kill()
            stop_sampler.set()
            generator.join(timeout=5)
        return report, final

    def _start_learner(self) -> subprocess.Popen:
        """The learning side branch, watching the same stream (its log goes to .stack/demo-learn.log)."""
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli.main", "learn", "--pipeline", "fraud", "--start-from", "latest",
             "--metrics-port", "0", "--log-level", "WARNING"],
            env=dict(os.environ), stdout=subprocess.DEVNULL,
            stderr=open(self.stack.settings.home / "demo-learn.log", "ab"),
        )

    def _watch_alerts(self, stop: threading.Event) -> None:
        """Alerts raised during the demo (hot path and learner) appear in the live view as they land."""
        consumer = Consumer({"bootstrap.servers": self.pipeline.kafka.bootstrap_servers,
                             "group.id": f"demo-alerts-{uuid.uuid4().hex[:6]}", "isolation.level": "read_committed",
                             "enable.auto.commit": False})
        topic = self.pipeline.topics.alerts
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
            while not stop.is_set():
                for message in consumer.consume(50, timeout=0.5):
                    if message.error() is None:
                        alert = orjson.loads(message.value())
                        self.alerts.append(alert)
                        self.state.notes.append(
                            f"[yellow]ALERT {alert['kind']} ({alert['severity']}) {alert['subject']}:[/] "
                            f"{alert['evidence'].get('summary', '')[:160]}")
        finally:
            consumer.close()

    def _wait_for_assignment(self, worker: subprocess.Popen, url: str, timeout_s: float = 60.0) -> None:
        """Start the load only once the worker owns partitions: start-up is not what we measure."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and worker.poll() is None:
            snap = scrape(url)
            if snap is not None and snap.assigned_partitions > 0:
                return
            time.sleep(0.2)

    def _generate(self, report: GenerateReport) -> None:
        o = self.options
        producer = FraudStreamProducer(self.pipeline.kafka.bootstrap_servers)
        # A fresh seed per run: event ids stay unique across demo runs on the same topics.
        producer.run(GenerateOptions(count=int(o.rate * o.seconds), seed=o.seed + int(time.time()) % 100_000,
                                     rate=o.rate, malformed=o.malformed, label_delay_s=2.0,
                                     drift_to=o.drift_to if o.learn else None, drift_at=0.5), report=report)

    def _caught_up(self) -> bool:
        snap = self.state.snapshots[-1] if self.state.snapshots else None
        expected = int(self.options.rate * self.options.seconds) + self.options.malformed
        return snap is not None and snap.consumed >= expected and snap.in_flight == 0

    def _sample_scores(self, stop: threading.Event) -> None:
        consumer = Consumer({"bootstrap.servers": self.pipeline.kafka.bootstrap_servers,
                             "group.id": f"demo-view-{uuid.uuid4().hex[:6]}", "isolation.level": "read_committed",
                             "enable.auto.commit": False})
        topic = self.pipeline.topics.output
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
        try:
            while not stop.is_set():
                for message in consumer.consume(200, timeout=0.5):
                    if message.error() is None and (len(self.state.samples) < 3 or message.offset() % 97 == 0):
                        self.state.samples.append(orjson.loads(message.value()))
        finally:
            consumer.close()

    def _summary(self, report: GenerateReport, final: MetricsSnapshot | None) -> None:
        say = self.console.print
        say(f"produced {report.events:,} events ({report.fraud} fraud) + {report.malformed} malformed in "
            f"{report.produce_seconds:.1f}s ({report.events / max(report.produce_seconds, 1e-9):,.0f}/s offered), "
            f"{report.labels:,} delayed labels")
        if final is None:
            say("[red]no final metrics: the worker did not answer[/]")
            return
        e2e = final.end_to_end
        say(f"scored {final.scored:,.0f}, dead-lettered {sum(final.dead_letters.values()):.0f} "
            f"{dict(sorted(final.dead_letters.items()))}")
        say(f"end-to-end latency (input record timestamp → score produced, Prometheus histogram): "
            f"p50 {e2e.quantile(0.5) * 1000:.1f} ms, p95 {e2e.quantile(0.95) * 1000:.1f} ms, "
            f"p99 {e2e.quantile(0.99) * 1000:.1f} ms; mean batch {final.batch_rows.total / max(final.batch_rows.count, 1):.0f} rows")
        if self.options.learn:
            say(f"drift knob turned to {self.options.drift_to} halfway; alerts seen on `{self.pipeline.topics.alerts}`: "
                f"{len(self.alerts)}")
            for alert in self.alerts[:10]:
                say(f"  {alert['kind']:<17} {alert['severity']:<8} {alert['subject']}: "
                    f"{alert['evidence'].get('summary', '')[:120]}")


class _NoLive:
    """Stand-in for rich.Live when stdout is not a terminal (CI logs): frames are printed instead."""

    def __enter__(self) -> "_NoLive":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, _renderable) -> None:
        """Nothing: the caller prints a frame every few seconds."""
