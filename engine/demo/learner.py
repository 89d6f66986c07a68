"""``streaminfer learn`` as the demo runs it: fresh every run, tuned for a one-minute story, removed afterwards.

The demo's learner differs from a production one only through ``STREAMINFER_LEARN__*`` variables in its
environment (``compose/pipelines/fraud.learn.yaml`` stays the production configuration):

- its own app id per run, so it neither resumes nor disturbs a real learner's consumer group and state,
  and its join changelog does not grow run after run (the run's topics are deleted when it ends);
- no checkpoints: nothing will resume from them;
- every card in the join (production samples 10 %): a one-minute run has too few labels otherwise;
- a 2,000-label comparison window, compared every 250 labels and judged on log loss with a 0.015 margin.
  ROC AUC on 2,000-label windows swings by ±0.05 either way (fraud comes in episodes, so a window holds a
  few dozen frauds). Log loss separates better, but it also rewards calibration, and the champion's scores
  are not calibrated (trained with a positive-class weight of 8): replayed offline over 12 seeds
  (``python -m models.fraud.learning.challenger_replay``), this rule let ``river_logreg`` win after the drift in
  every seed — and before it in 5 of 12. The README's "How far to trust challenger_wins" has the figures.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from engine.learn.process import free_port
from engine.observe.learn_scrape import LearnerSnapshot, scrape_learner

log = logging.getLogger("streaminfer.demo")

APP_PREFIX = "streaminfer-demo-learn-"
_APP_ID_LENGTH = len(APP_PREFIX) + 8  # the prefix and token_hex(4)


@dataclass(frozen=True)
class DemoLearnSettings:
    """The learner settings the demo overrides (see the module docstring for why)."""

    join_rate: float = 1.0
    window: int = 2000
    compare_every: int = 250
    min_labels: int = 1000
    min_positives: int = 20
    metric: str = "log_loss"
    margin: float = 0.015

    def environment(self, app_id: str) -> dict[str, str]:
        """``STREAMINFER_LEARN__*`` variables for a learner child process called ``app_id``."""
        prefix = "STREAMINFER_LEARN__"
        return {
            f"{prefix}APP_ID": app_id,
            # A throwaway HMAC key: nothing is checkpointed, and a per-run key file would litter the cache.
            f"{prefix}STATE_KEY": secrets.token_hex(16),
            f"{prefix}STATE__ENABLED": "false",
            f"{prefix}SAMPLING__JOIN_RATE": str(self.join_rate),
            f"{prefix}SHADOW__WINDOW": str(self.window),
            f"{prefix}SHADOW__COMPARE_EVERY": str(self.compare_every),
            f"{prefix}SHADOW__MIN_LABELS": str(self.min_labels),
            f"{prefix}SHADOW__MIN_POSITIVES": str(self.min_positives),
            f"{prefix}SHADOW__METRIC": self.metric,
            f"{prefix}SHADOW__MARGIN": str(self.margin),
            # Lag is how the demo knows the learner is reading, and when it has caught up: export it often.
            f"{prefix}METRICS__LAG_INTERVAL_S": "1",
        }


class DemoLearner:
    """One learner child process of the demo, and the Kafka topics and group it leaves behind.

    Args:
        bootstrap: Kafka bootstrap servers (for the clean-up).
        log_path: Where the child's stderr goes (appended).
        settings: The overrides.
    """

    def __init__(self, bootstrap: str, log_path: Path, settings: DemoLearnSettings | None = None) -> None:
        self.bootstrap = bootstrap
        self.log_path = log_path
        self.settings = settings or DemoLearnSettings()
        self.app_id = f"{APP_PREFIX}{secrets.token_hex(4)}"  # _APP_ID_LENGTH long
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self.process: subprocess.Popen | None = None

    def start(self) -> DemoLearner:
        """Remove what crashed demo runs left, then launch the learner (returns at once)."""
        self._remove_leftovers()
        with open(self.log_path, "ab") as stderr:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.cli.main", "learn", "--pipeline", "fraud", "--start-from", "latest",
                 "--metrics-port", str(self.port), "--log-level", "WARNING"],
                env={**os.environ, **self.settings.environment(self.app_id)},
                stdout=subprocess.DEVNULL, stderr=stderr)
        return self

    def snapshot(self) -> LearnerSnapshot | None:
        """The learner's metrics now; None while it does not answer."""
        return scrape_learner(self.url)

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.process is not None and self.process.poll() is None

    def wait_until_reading(self, topics: tuple[str, ...], timeout_s: float = 90.0) -> bool:
        """Block until the learner reads ``topics`` (it starts from their end: what comes earlier is missed)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.alive():
            snap = self.snapshot()
            if snap is not None and snap.reading(*topics):
                return True
            time.sleep(0.3)
        return False

    def terminate(self) -> None:
        """Ask the learner to stop (SIGTERM: it drains, flushes its alerts and shadow records, and exits)."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float = 60.0) -> None:
        """Wait for the child to exit; kill it if it hangs."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def remove_topics(self) -> None:
        """Delete this run's learner topics and consumer group (best effort: a demo never fails on clean-up)."""
        self._delete(AdminClient({"bootstrap.servers": self.bootstrap}), [self.app_id])

    def _remove_leftovers(self) -> None:
        """Topics and groups of earlier demo learners that died before cleaning up (no live members)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        try:
            groups = {g.group_id for g in admin.list_consumer_groups().result(timeout=10).valid
                      if g.group_id.startswith(APP_PREFIX)}
            topics = admin.list_topics(timeout=10).topics
            apps = groups | {t[:_APP_ID_LENGTH] for t in topics if t.startswith(APP_PREFIX)}
            if not apps:
                return
            busy = {g.group_id for g in admin.describe_consumer_groups(sorted(groups)).values() if g.result(10).members} \
                if groups else set()
        except Exception as exc:  # noqa: BLE001 — clean-up is best effort
            log.warning("demo learner leftovers: %s", exc)
            return
        self._delete(admin, sorted(apps - busy))

    def _delete(self, admin: AdminClient, apps: list[str]) -> None:
        try:
            topics = [t for t in admin.list_topics(timeout=10).topics if any(t.startswith(f"{a}-") for a in apps)]
            futures = list(admin.delete_topics(topics).values()) if topics else []
            # A static member stays in its group for a session timeout after it stops: deleting the group
            # may fail now, and then the next demo run removes it.
            futures += list(admin.delete_consumer_groups(apps).values()) if apps else []
            for future in futures:
                try:
                    future.result(timeout=10)
                except Exception as exc:  # noqa: BLE001
                    log.info("demo learner clean-up: %s", exc)
        except Exception as exc:  # noqa: BLE001
            log.warning("demo learner clean-up: %s", exc)
