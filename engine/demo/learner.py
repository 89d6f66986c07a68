"""``streaminfer learn`` as the demo runs it: fresh every run, tuned for a one-minute story, removed afterwards.

The demo's learner differs from a production one only through ``STREAMINFER_LEARN__*`` variables in its
environment (``compose/pipelines/<pipeline>.learn.yaml`` stays the production configuration). One launcher
serves every pipeline; what it overrides is a settings object per learner kind — :class:`DemoLearnSettings`
(fraud, per-event) and :class:`DemoRankingLearnSettings` (recs, ranking). For fraud:

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

For the ranking learner see :class:`DemoRankingLearnSettings`.
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
from typing import Protocol
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
        return _environment(app_id, {
            "SAMPLING__JOIN_RATE": self.join_rate,
            "SHADOW__WINDOW": self.window,
            "SHADOW__COMPARE_EVERY": self.compare_every,
            "SHADOW__MIN_LABELS": self.min_labels,
            "SHADOW__MIN_POSITIVES": self.min_positives,
            "SHADOW__METRIC": self.metric,
            "SHADOW__MARGIN": self.margin,
        })


@dataclass(frozen=True)
class DemoRankingLearnSettings:
    """What the demo overrides in a ranking learner (``streaminfer learn --pipeline recs``).

    Production samples 2 % of the users into the join and re-ranks a quarter of those with the challengers:
    over a one-minute run at 200 requests/s that is ~4 judged lists a second, too few for a detector to see
    the drift before the run ends. The demo judges ``judged_per_s`` lists a second and re-ranks
    ``shadow_per_s`` of them (a challenger list costs the learner ~5–10 ms on two shared cores, the champion's
    figures ~50 µs), whatever the offered rate; windows and comparison thresholds shrink to match.

    Attributes:
        join_rate: Users whose lists, feedback and requests enter the join.
        feature_rate: Users whose requests feed feature drift.
        shadow_rate: Of the joined users, those whose lists the challengers re-rank and learn.
        window: Requests in the rolling windows (champion, challengers, catalog): at ~100 judged lists/s the
            champion's figures span ~15 s, so the view shows the drift within a window's length.
        compare_every: Challenger lists between two comparisons (a shadow record and the gauges' verdicts).
        min_requests: No ``challenger_wins`` verdict before this many paired requests...
        min_clicks: ...nor before this many champion clicks in them.
        sweep_interval_s: The learner refreshes its gauges (what the view reads) at every sweep.
        new_item_age_s: An item first seen less than this long ago is new (production: an hour, and every
            item met in the learner's first hour counts as old — a one-minute run would show 0 throughout).
        lag_interval_s: Lag probes of three readers × six partitions take 1–2 s on the busy box.
    """

    join_rate: float = 0.5
    feature_rate: float = 0.25
    shadow_rate: float = 0.15
    window: int = 1500
    compare_every: int = 100
    min_requests: int = 300
    min_clicks: int = 100
    sweep_interval_s: float = 2.0
    new_item_age_s: float = 20.0
    lag_interval_s: float = 3.0
    metric: str = "ips_ctr"
    margin: float = 0.05

    @classmethod
    def for_rate(cls, requests_per_s: float, judged_per_s: float = 100.0, shadow_per_s: float = 15.0,
                 **overrides: float) -> DemoRankingLearnSettings:
        """Sample rates that judge ~``judged_per_s`` lists and re-rank ~``shadow_per_s`` a second at this rate."""
        join = min(1.0, judged_per_s / max(requests_per_s, 1e-9))
        shadow = min(1.0, shadow_per_s / max(requests_per_s * join, 1e-9))
        return cls(join_rate=round(join, 4), shadow_rate=round(shadow, 4), **overrides)

    def environment(self, app_id: str) -> dict[str, str]:
        """``STREAMINFER_LEARN__*`` variables for a ranking learner child process called ``app_id``."""
        return _environment(app_id, {
            "SAMPLING__JOIN_RATE": self.join_rate,
            "SAMPLING__FEATURE_RATE": self.feature_rate,
            "SHADOW__SAMPLE_RATE": self.shadow_rate,
            "RANKING__WINDOW": self.window,
            "SHADOW__COMPARE_EVERY": self.compare_every,
            "SHADOW__MIN_REQUESTS": self.min_requests,
            "SHADOW__MIN_CLICKS": self.min_clicks,
            "SHADOW__METRIC": self.metric,
            "SHADOW__MARGIN": self.margin,
            "JOIN__SWEEP_INTERVAL_S": self.sweep_interval_s,
            "RANKING__NEW_ITEM_AGE_S": self.new_item_age_s,
            "METRICS__LAG_INTERVAL_S": self.lag_interval_s,
        })


def _environment(app_id: str, overrides: dict[str, object]) -> dict[str, str]:
    """What every demo learner sets, plus ``overrides`` (``SECTION__FIELD`` → value)."""
    prefix = "STREAMINFER_LEARN__"
    return {
        f"{prefix}APP_ID": app_id,
        # A throwaway HMAC key: nothing is checkpointed, and a per-run key file would litter the cache.
        f"{prefix}STATE_KEY": secrets.token_hex(16),
        f"{prefix}STATE__ENABLED": "false",
        # Lag is how the demo knows the learner is reading, and when it has caught up: export it often.
        f"{prefix}METRICS__LAG_INTERVAL_S": "1",
        **{f"{prefix}{name}": str(value) for name, value in overrides.items()},
    }


class LearnOverrides(Protocol):
    """Demo settings of one learner kind: the environment of its child process."""

    def environment(self, app_id: str) -> dict[str, str]:
        """``STREAMINFER_LEARN__*`` variables for a learner called ``app_id``."""


class DemoLearner:
    """One learner child process of the demo, and the Kafka topics and group it leaves behind.

    Args:
        bootstrap: Kafka bootstrap servers (for the clean-up).
        log_path: Where the child's stderr goes (appended).
        settings: The overrides (fraud's :class:`DemoLearnSettings` by default).
        pipeline: The pipeline it learns (``streaminfer learn --pipeline``).
    """

    def __init__(self, bootstrap: str, log_path: Path, settings: LearnOverrides | None = None,
                 pipeline: str = "fraud") -> None:
        self.bootstrap = bootstrap
        self.log_path = log_path
        self.settings = settings or DemoLearnSettings()
        self.pipeline = pipeline
        self.app_id = f"{APP_PREFIX}{secrets.token_hex(4)}"  # _APP_ID_LENGTH long
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self.process: subprocess.Popen | None = None

    def start(self) -> DemoLearner:
        """Remove what crashed demo runs left, then launch the learner (returns at once)."""
        self._remove_leftovers()
        with open(self.log_path, "ab") as stderr:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.cli.main", "learn", "--pipeline", self.pipeline, "--start-from", "latest",
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

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it exited (None while it runs or before it started)."""
        return None if self.process is None else self.process.poll()

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
            described = admin.describe_consumer_groups(sorted(groups)).items() if groups else ()
            busy = {group for group, future in described if future.result(10).members}
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
