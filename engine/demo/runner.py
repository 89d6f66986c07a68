"""``streaminfer demo``: the fraud and recs pipelines live on the local real stack, in turn.

stack up → topics apply → fraud model build/load → serve worker and learner → generator at a steady
rate with a few malformed events, its drift knob turned halfway → live view (hot path, alerts, champion
vs challengers) → summary → worker and learner drained → recs: model, serve, simulated users
(requests, clicks; the drift knob turned halfway) and the ranking learner, live view, summary → stack down
(if the demo started it). ``--no-learn`` runs both hot paths without a learner (recs: plain requests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

import orjson
from confluent_kafka import Message
from rich.console import Console
from rich.live import Live

from engine.config.pipeline import load_pipeline
from engine.demo.hot_path import wait_or_kill as _wait_or_kill
from engine.demo.learner import DemoLearner
from engine.demo.support import NoLive, wait_for_assignment
from engine.inference.model_control import ModelControl
from engine.observe.live_view import LiveState, render
from engine.observe.scrape import MetricsSnapshot, scrape
from engine.observe.shadow_board import ShadowBoard, comparison_from_shadow
from engine.observe.shadow_panel import summary_table, win_lines
from engine.observe.tail import TopicTail
from engine.pipeline.loader import load_plugin
from engine.stack.manager import LocalStack
from engine.stack.settings import load_stack_settings
# The demo's fraud act drives fraud's own producer: it also sends delayed labels and turns the drift knob.
from models.fraud.stream import FraudStreamProducer, GenerateOptions, GenerateReport


@dataclass(frozen=True)
class DemoOptions:
    """How long and how hard the demo drives the pipeline."""

    seconds: float = 60.0  # half of it after the drift: time for a challenger to learn the new stream
    rate: float = 1000.0  # the learner (faust) shares the two cores: leave it room
    malformed: int = 20
    seed: int = 7
    metrics_port: int = 9464
    keep_stack: bool = False
    learn: bool = True          # run `streaminfer learn` beside the hot path
    drift_to: float = 1.0       # the generator's drift knob halfway through the run
    recs_seconds: float = 60.0  # the recs pipeline's traffic (0 = skip it): the drift knob turns halfway
    recs_rate: float = 200.0    # ranking requests/s: each brings ~60 candidate rows
    rollout: bool = True        # a guarded rollout of a second fraud version during the run


class FraudDemo:
    """Runs the demo; every process it starts it also stops."""

    def __init__(self, options: DemoOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.stack = LocalStack(load_stack_settings(), say=lambda line: self.console.print(f"[dim]{line}[/]"))
        self.pipeline = load_pipeline("fraud", **{"metrics.port": options.metrics_port})
        self.plugin = load_plugin(self.pipeline.plugin, self.pipeline.plugin_options)
        self.state = LiveState(summarize=self.plugin.summarize_output, unit="scores")
        self.alerts: list[dict] = []
        self.rollout = None  # engine.demo.rollout.DemoRollout, once prepared
        self._learner_labels_read = 0.0     # labels the learner had read at the last progress check
        self._learner_progress_at = time.monotonic()

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
            o = self.options
            learn = f" + learner, drift knob to {o.drift_to} halfway" if o.learn else ""
            say(f"[bold]4/5[/] serve{learn} + generator: {o.rate:.0f} events/s for {o.seconds:.0f}s, "
                f"{o.malformed} malformed (setup took {time.monotonic() - started:.0f}s)")
            report, final = self._run_live()
            say("[bold]5/5[/] summary")
            self._summary(report, final)
            if o.recs_seconds > 0:
                self._run_recs()
        finally:
            if not stack_was_running and not self.options.keep_stack:
                self.stack.down()
                say("stack stopped")
        return 0

    def _run_recs(self) -> None:
        from engine.demo.hot_path import HotPathDemo
        from engine.demo.ranking import RankingDemo, supports_learning_demo

        o, say = self.options, self.console.print
        started = time.monotonic()
        recs = HotPathDemo(self.stack, "recs", o.recs_seconds, o.recs_rate, max(1, o.malformed // 4),
                           o.metrics_port, self.console)
        if o.learn and supports_learning_demo(recs.plugin):
            recs = RankingDemo(self.stack, "recs", o.recs_seconds, o.recs_rate, o.metrics_port, self.console,
                               drift_to=o.drift_to, drift_at=0.5)
            say(f"[bold]recs[/] model: build (cached) and load; {recs.describe()}")
        else:
            say(f"[bold]recs[/] model: build (cached) and load; serve + {o.recs_rate:.0f} ranking requests/s "
                f"for {o.recs_seconds:.0f}s")
        recs.prepare_model()
        report, final = recs.run()
        say("[bold]recs[/] summary")
        recs.summary(report, final)
        say(f"[dim]recs turn: {time.monotonic() - started:.0f}s[/]")

    def _apply_topics(self) -> None:
        from engine.topics.apply import apply_topics
        from engine.topics.specs import TopicCatalog

        report = apply_topics(self.pipeline.kafka.bootstrap_servers, TopicCatalog.load())
        self.console.print(f"[dim]{report.render()}[/]")

    def _build_model(self) -> None:
        repository = self.stack.settings.model_repository
        if not ModelControl.versions_on_disk(repository, "fraud"):
            build = self.plugin.build_model(repository)
            test = build.metrics.get("test", {})
            self.console.print(f"[dim]exported fraud v{build.version} "
                               f"({'cached' if build.from_cache else 'trained'}; "
                               f"held-out ROC AUC {test.get('roc_auc', float('nan')):.3f}, "
                               f"PR AUC {test.get('pr_auc', float('nan')):.3f})[/]")
        control = ModelControl(self.stack.settings.triton_http_url)
        if not control.ready_versions("fraud"):
            control.load("fraud")
        if self.options.rollout:
            from engine.demo.rollout import DemoRollout

            self.rollout = DemoRollout(self.pipeline, self.plugin, repository,
                                       lambda line: self.console.print(line))
            self.rollout.prepare()
        self.console.print(f"[dim]Triton ready versions of fraud: {control.ready_versions('fraud')}[/]")

    def _run_live(self) -> tuple[GenerateReport, MetricsSnapshot | None]:
        o = self.options
        bootstrap, topics = self.pipeline.kafka.bootstrap_servers, self.pipeline.topics
        home = self.stack.settings.home
        env = dict(os.environ)
        if self.rollout is not None:
            from engine.demo.rollout import DEMO_GUARD_ENV

            env.update(DEMO_GUARD_ENV)
        with open(home / "demo-serve.log", "ab") as stderr:  # the child keeps its own descriptor
            worker = subprocess.Popen(
                [sys.executable, "-m", "engine.cli.main", "serve", "--pipeline", "fraud",
                 "--metrics-port", str(o.metrics_port), "--log-level", "WARNING"],
                env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        learner = DemoLearner(bootstrap, home / "demo-learn.log") if o.learn else None
        tails = [TopicTail(bootstrap, topics.output, self._on_score, "demo-view"),
                 TopicTail(bootstrap, topics.alerts, self._on_alert, "demo-alerts")]
        if learner is not None:
            from engine.learn.settings import load_learn_settings

            self.state.shadow = ShadowBoard(learner.settings.metric, learner.settings.margin)
            tails.append(TopicTail(bootstrap, load_learn_settings("fraud").topics.shadow, self._on_shadow,
                                   "demo-shadow"))
        report = GenerateReport()
        generator = threading.Thread(target=self._generate, args=(report,), daemon=True)
        url = f"http://127.0.0.1:{o.metrics_port}/metrics"
        try:
            if learner is not None:
                learner.start()
            for tail in tails:
                tail.start()
            wait_for_assignment(worker, url)
            # The learner starts from the end of the topics: wait, or the first seconds go unlearned.
            if learner is not None and not learner.wait_until_reading((topics.output, topics.input)):
                self.state.notes.append(f"[red]the learner is not reading yet: see {learner.log_path}[/]")
            generator.start()
            if self.rollout is not None:
                self.rollout.start(delay_s=o.seconds * 0.15)
            self._watch(worker, learner, generator, report, url)
            final = scrape(url)
        finally:
            if self.rollout is not None:
                self.rollout.stop()
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
            if learner is not None:
                learner.terminate()  # both drain at once
            _wait_or_kill(worker)
            if learner is not None:
                learner.wait()
            time.sleep(1.0)  # the learner's last shadow records and alerts are still on their way
            for tail in tails:
                tail.stop()
            if generator.is_alive():
                generator.join(timeout=5)
            if learner is not None:
                learner.remove_topics()
        return report, final

    def _watch(self, worker: subprocess.Popen, learner: DemoLearner | None, generator: threading.Thread,
               report: GenerateReport, url: str) -> None:
        """Refresh the live view until everything produced is scored (and learned), or a deadline."""
        o = self.options
        # Generator time, then room to finish scoring and for the learner to catch up with the labels.
        deadline = time.monotonic() + o.seconds + 90
        interactive = self.console.is_terminal
        with Live(render(self.state), console=self.console, refresh_per_second=4,
                  transient=False) if interactive else NoLive() as live:
            last_line = 0.0
            while time.monotonic() < deadline:
                self.state.produced, self.state.malformed = report.events, report.malformed
                self.state.add(scrape(url))
                if learner is not None:
                    self.state.learner = learner.snapshot() or self.state.learner
                self._mark_drift(report)
                if self.rollout is not None:
                    self.state.rollout = self.rollout.line()
                live.update(render(self.state))
                if not interactive and time.monotonic() - last_line >= 5:
                    last_line = time.monotonic()
                    self.console.print(render(self.state))
                if not generator.is_alive() and self._caught_up() and self._learner_caught_up(learner, report):
                    break
                if worker.poll() is not None:
                    self.state.notes.append(f"[red]worker exited with {worker.returncode}[/]")
                    break
                time.sleep(0.5)

    def _mark_drift(self, report: GenerateReport) -> None:
        """Note when the generator passes the point where it turns the drift knob."""
        board, o = self.state.shadow, self.options
        if board is None or board.drift_at is not None or report.events < int(o.rate * o.seconds) * 0.5:
            return
        board.drift_at = time.monotonic()
        self.state.notes.append(f"[magenta]drift knob turned to {o.drift_to} after {report.events:,} events[/]")

    def _learner_caught_up(self, learner: DemoLearner | None, report: GenerateReport) -> bool:
        """The learner read every label the generator sent, or made no progress for 5 s (or is gone).

        Lag cannot tell: the hot path writes in transactions, and each partition's last commit marker
        stays behind a read_committed reader as one offset of "lag" for good.
        """
        snap = self.state.learner
        if learner is None or not learner.alive() or snap is None:
            return True
        read = snap.records.get("labels", 0.0)
        if read >= report.labels:
            return True
        if read != self._learner_labels_read:
            self._learner_labels_read, self._learner_progress_at = read, time.monotonic()
        return time.monotonic() - self._learner_progress_at >= 5.0

    def _on_alert(self, message: Message) -> None:
        """Alerts raised during the demo (hot path and learner) appear in the live view as they land."""
        alert = orjson.loads(message.value())
        self.alerts.append(alert)
        if self.state.shadow is not None:
            self.state.shadow.add_alert(alert)
        self.state.notes.append(f"[yellow]ALERT {alert['kind']} ({alert['severity']}) {alert['subject']}:[/] "
                                f"{alert['evidence'].get('summary', '')[:160]}")

    def _on_shadow(self, message: Message) -> None:
        self.state.shadow.add(comparison_from_shadow(message.value(), time.monotonic()))

    def _on_score(self, message: Message) -> None:
        if len(self.state.samples) < 3 or message.offset() % 97 == 0:
            self.state.samples.append(orjson.loads(message.value()))

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
            kinds = Counter(alert["kind"] for alert in self.alerts)
            say(f"drift knob turned to {self.options.drift_to} halfway; alerts seen on `{self.pipeline.topics.alerts}`: "
                f"{len(self.alerts)} ({', '.join(f'{kind} {n}' for kind, n in kinds.items()) or 'none'})")
            for alert in _each_kind_first(self.alerts)[:10]:
                say(f"  {alert['kind']:<17} {alert['severity']:<8} {alert['subject']}: "
                    f"{alert['evidence'].get('summary', '')[:120]}")
            if self.state.shadow is not None:
                say(summary_table(self.state.shadow))
                for line in win_lines(self.state.shadow):
                    say(line)
        if self.rollout is not None:
            by_version = {f"v{v} {role}": f"{n:,.0f}" for (v, role), n in sorted(final.version_events.items()) if n}
            say(f"rollout of fraud v{self.rollout.candidate} against v{self.rollout.champion} (guarded, "
                f"judged by the serve worker; `streaminfer models status fraud` for the measurements); "
                f"outputs by version: {by_version or 'none'}")
            for line in self.rollout.summary():
                say(line)


def _each_kind_first(alerts: list[dict]) -> list[dict]:
    """The first alert of every kind, then the rest, each group in arrival order: a cut keeps every kind."""
    firsts = {}
    for alert in alerts:
        firsts.setdefault(alert["kind"], alert)
    chosen = {id(alert) for alert in firsts.values()}
    return list(firsts.values()) + [alert for alert in alerts if id(alert) not in chosen]
