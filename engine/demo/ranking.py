"""A ranking pipeline live in the demo with its learning side: ``serve`` + the plugin's simulated users
(requests out, rankings read, clicks back), their drift knob turned part-way + ``streaminfer learn`` + a live
view of what the learner judges + a summary before and after the drift.

Domain-free: the pipeline's plugin supplies the traffic through ``demo_traffic(bootstrap, topics, count, rate,
run_id, drift_to, drift_at)``, which returns an object whose ``run()`` blocks until its users are done and whose
``report`` counts, while it runs, ``requests``, ``ranked``, ``impressions``, ``clicks`` and ``feedback`` (and
has a ``summary()`` line). The learner is the shipped one, with the demo's sampling
(:class:`engine.demo.learner.DemoRankingLearnSettings`).
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import threading
import time
from typing import Any

import orjson
from confluent_kafka import Message
from rich.console import Console
from rich.live import Live

from engine.demo.hot_path import HotPathDemo, wait_or_kill
from engine.demo.learner import DemoLearner, DemoRankingLearnSettings
from engine.demo.support import NoLive, wait_for_assignment
from engine.observe.live_view import render
from engine.observe.ranking_panel import RankingBoard, summary
from engine.observe.scrape import MetricsSnapshot, scrape
from engine.observe.tail import TopicTail
from engine.stack.manager import LocalStack

#: What the demo reads off the traffic's report while it runs.
TRAFFIC_COUNTS = ("requests", "ranked", "impressions", "clicks", "feedback")


def supports_learning_demo(plugin: Any) -> bool:
    """Whether ``plugin`` has a ranking learner and traffic for it (else the demo runs its plain hot path)."""
    learning = getattr(plugin, "learning", None)
    return callable(getattr(plugin, "demo_traffic", None)) and getattr(learning, "kind", None) == "ranking"


class RankingDemo(HotPathDemo):
    """Runs ``pipeline`` for ``seconds`` at ``rate`` requests/s with its ranking learner beside it.

    Args:
        stack: The running local stack.
        pipeline: Shipped pipeline name (its plugin has ``demo_traffic`` and a ranking learning side).
        seconds: How long the traffic runs (its users keep answering for a few seconds after).
        rate: Requests offered per second.
        metrics_port: The worker's /metrics port.
        console: Where to print.
        drift_to: The traffic's drift knob from ``drift_at`` of the run on (None: no drift).
        drift_at: Fraction of the requests after which it turns.
    """

    def __init__(self, stack: LocalStack, pipeline: str, seconds: float, rate: float, metrics_port: int,
                 console: Console, drift_to: float | None = 1.0, drift_at: float = 0.5) -> None:
        super().__init__(stack, pipeline, seconds, rate, 0, metrics_port, console)
        from engine.learn.settings import load_learn_settings

        self.learn_settings = load_learn_settings(pipeline)
        self.overrides = DemoRankingLearnSettings.for_rate(rate)
        self.drift_to, self.drift_at = drift_to, drift_at
        self.board = RankingBoard(pipeline=self.settings.name, k=self.learn_settings.ranking.k, drift_to=drift_to,
                                  metric=self.overrides.metric, margin=self.overrides.margin)
        self.state.ranking = self.board
        self.count = int(rate * seconds)
        self.learner: DemoLearner | None = None
        self.learner_stop_s: float | None = None  # SIGTERM → exit
        self.traffic_error: BaseException | None = None
        self.timings: dict[str, float] = {}  # seconds per phase: setup, users, catch_up, stop
        self._users_done_at: float | None = None
        self._started = 0.0  # when the learner was launched

    def describe(self) -> str:
        """One line: what runs (for the demo's step header)."""
        o = self.overrides
        knob = f", drift knob to {self.drift_to:g} after {self.drift_at:.0%}" if self.drift_to is not None else ""
        return (f"serve + simulated users ({self.rate:.0f} requests/s for {self.seconds:.0f}s{knob}) + learner "
                f"(judging the lists of {o.join_rate:.0%} of the users, challengers re-ranking "
                f"{o.shadow_rate:.0%} of those)")

    def prepare_model(self) -> None:
        """Launch the learner, then build (cached) and load the model: faust takes its time (~20 s on the busy
        box) before it reads, and the learner needs no model."""
        self._start_learner()
        try:
            super().prepare_model()
        except BaseException:
            self.learner.terminate()
            self.learner.wait()
            self.learner.remove_topics()
            raise

    def _start_learner(self) -> DemoLearner:
        if self.learner is None:
            self._started = time.monotonic()
            self.learner = DemoLearner(self.settings.kafka.bootstrap_servers,
                                       self.stack.settings.home / f"demo-learn-{self.name}.log", self.overrides,
                                       pipeline=self.name).start()
        return self.learner

    def run(self) -> tuple[Any, MetricsSnapshot | None]:
        """Serve, learner, traffic; watch until the learner judged what the users answered. Returns the
        traffic's report and the worker's last metrics."""
        bootstrap, topics = self.settings.kafka.bootstrap_servers, self.settings.topics
        labels = self.learn_settings.topics.labels
        traffic = self.plugin.demo_traffic(bootstrap, (topics.input, topics.output, labels), count=self.count,
                                           rate=self.rate, run_id=secrets.token_hex(4), drift_to=self.drift_to,
                                           drift_at=self.drift_at)
        learner = self._start_learner()
        worker = self.start_worker()
        tails = [TopicTail(bootstrap, topics.output, self._on_output, f"demo-{self.name}"),
                 TopicTail(bootstrap, topics.alerts, self._on_alert, f"demo-{self.name}-alerts")]
        users = threading.Thread(target=self._drive, args=(traffic,), name="demo-users", daemon=True)
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        final = None
        marks = {"start": self._started}
        try:
            for tail in tails:
                tail.start()
            wait_for_assignment(worker, url)
            # The learner starts from the end of its three topics: wait, or the first requests go unjudged.
            if not learner.wait_until_reading((topics.input, topics.output, labels)):
                self.state.notes.append(f"[red]the learner is not reading yet: see {learner.log_path}[/]")
            marks["users"] = self.board.started_at = time.monotonic()
            users.start()
            self._watch_learning(worker, learner, users, traffic, url)
            marks["watched"] = time.monotonic()
            final = scrape(url)
            self.board.add(learner.snapshot())
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            learner.terminate()  # both drain at once
            wait_or_kill(worker)
            learner.wait()
            if learner.returncode is not None:
                self.learner_stop_s = time.monotonic() - stopping
            time.sleep(1.0)  # the learner's last alerts are still on their way
            for tail in tails:
                tail.stop()
            users.join(timeout=5)
            learner.remove_topics()
            marks["end"] = time.monotonic()
            self._phases(marks)
        return traffic.report, final

    def _phases(self, marks: dict[str, float]) -> None:
        """Seconds per phase: set-up (learner launched → reading, model, serve owns partitions), users, catch-up,
        stop."""
        users, watched = marks.get("users"), marks.get("watched")
        users_done = self._users_done_at
        if users is not None:
            self.timings["setup"] = users - marks["start"]
        if users is not None and users_done is not None:
            self.timings["users"] = users_done - users
        if users_done is not None and watched is not None:
            self.timings["catch_up"] = max(0.0, watched - users_done)
        if watched is not None:
            self.timings["stop"] = marks["end"] - watched

    def _drive(self, traffic: Any) -> None:
        try:
            traffic.run()
        except Exception as exc:  # noqa: BLE001 — shown in the view and the summary, the demo goes on
            self.traffic_error = exc
        finally:
            self._users_done_at = time.monotonic()

    def _watch_learning(self, worker: subprocess.Popen, learner: DemoLearner, users: threading.Thread,
                        traffic: Any, url: str) -> None:
        """Refresh the view until the users are done and the learner judged their feedback, or a deadline."""
        deadline = time.monotonic() + self.seconds + 90
        interactive = self.console.is_terminal
        title = f"streaminfer serve + learn — {self.name}"
        live = Live(render(self.state, title), console=self.console, refresh_per_second=4) if interactive else None
        last_line, caught_up_at, warned = 0.0, None, False
        progress = (0.0, time.monotonic())  # (feedback read, when it last moved)
        with live if live is not None else NoLive():
            while time.monotonic() < deadline:
                self.state.add(scrape(url))
                snap = learner.snapshot()
                self.board.add(snap)
                report = traffic.report
                self.board.traffic = {name: float(getattr(report, name, 0) or 0) for name in TRAFFIC_COUNTS}
                self.state.produced = int(self.board.traffic["requests"])
                self._mark_drift()
                if live is not None:
                    live.update(render(self.state, title))
                elif time.monotonic() - last_line >= 5:
                    last_line = time.monotonic()
                    self.console.print(render(self.state, title))
                if worker.poll() is not None:
                    self.state.notes.append(f"[red]worker exited with {worker.returncode}[/]")
                    return
                if not learner.alive() and not warned:
                    warned = True
                    self.state.notes.append(f"[red]the learner exited with {learner.returncode}: see "
                                            f"{learner.log_path}[/]")
                if not users.is_alive():
                    if self.traffic_error is not None or not learner.alive():
                        return
                    read = snap.records.get("labels", 0.0) if snap is not None else 0.0
                    if read != progress[0]:
                        progress = (read, time.monotonic())
                    if caught_up_at is None and (read >= self.board.traffic["feedback"]
                                                 or time.monotonic() - progress[1] >= 5.0):
                        caught_up_at = time.monotonic()
                    # One more sweep after the last feedback: the gauges the view reads refresh at sweeps.
                    if caught_up_at is not None and time.monotonic() - caught_up_at > self.overrides.sweep_interval_s + 0.5:
                        return
                time.sleep(0.5)

    def _mark_drift(self) -> None:
        board = self.board
        if self.drift_to is None or board.drift_at is not None:
            return
        if board.traffic.get("requests", 0) >= round(self.count * self.drift_at):
            board.drift_at = time.monotonic()

    def _on_alert(self, message: Message) -> None:
        try:
            alert = orjson.loads(message.value())
        except orjson.JSONDecodeError:
            return
        if isinstance(alert, dict):
            self.board.add_alert(alert, time.monotonic())

    def summary(self, report: Any, final: MetricsSnapshot | None) -> None:
        """Traffic, hot path, the learner's figures before/after the drift and its alerts, how it stopped."""
        say = self.console.print
        line = report.summary() if callable(getattr(report, "summary", None)) else str(report)
        say(f"users: {line}")
        if self.traffic_error is not None:
            say(f"[red]the traffic stopped: {self.traffic_error}[/]")
        self.serve_summary(final)
        o = self.overrides
        say(f"learner (join {o.join_rate:g} of the users, challengers {o.shadow_rate:g} of those, windows of "
            f"{o.window:,} requests; drift knob to {self.drift_to} after {self.drift_at:.0%} of the requests):")
        for part in summary(self.board):
            say(part)
        learner = self.learner
        if learner is None or learner.returncode is None:
            say("[red]learner: did not exit[/]")
        elif learner.returncode == 0:
            say(f"learner: SIGTERM → drained and exited 0 in {self.learner_stop_s:.1f}s; its topics and group removed")
        else:
            say(f"[red]learner: exited {learner.returncode} (see {learner.log_path})[/]")
        if self.timings:
            names = {"setup": "set-up (learner start, model load, serve assigned)", "users": "users",
                     "catch_up": "learner catching up", "stop": "drain and stop"}
            say("[dim]" + " · ".join(f"{names[k]} {v:.0f}s" for k, v in self.timings.items()) + "[/]")
