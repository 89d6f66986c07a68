"""What one ``streaminfer chaos`` run is asked to do, and the checks made before it starts."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from engine.chaos.schedule import DEFAULT_SCHEDULE, FaultSpec, format_faults
from engine.errors import StackError
from engine.inference.model_control import ModelControl
from engine.stack.manager import LocalStack


class ChaosAbort(Exception):
    """The run cannot go on (a deadline passed, the generator failed, a server did not come back)."""


@dataclass(frozen=True)
class ChaosOptions:
    """One chaos or soak run.

    Attributes:
        pipeline: The pipeline under test: a shipped name or a YAML path (see
            :class:`engine.chaos.target.ChaosTarget`).
        events: Valid events generated.
        rate: Events per second (the CLI's default depends on the pipeline: ``DEFAULT_RATES``).
        malformed: Malformed records interleaved (dead letters are part of the invariant).
        faults: The schedule.
        max_minutes: Bound of the run until every input is answered; the final drain and checks have
            fixed bounds of their own (shutdown 60 s, two settles of 120 s, reading the input 300 s).
        work_dir: Run directories go under here (None: ``<stack home>/chaos``).
        keep_topics: Leave the run's topics on the broker.
        soak: Soak mode: also sample worker RSS.
        rss_interval_s: RSS sampling period (soak).
        quiet_s: How long no new answer must arrive before the answers count as settled.
        finish_timeout_s: How long after the generator's exit the answers may take to complete.
        seed: Generator seed.
    """

    pipeline: str = "fraud"
    events: int = 1_000_000
    rate: float = 5000.0
    malformed: int = 200
    faults: tuple[FaultSpec, ...] = DEFAULT_SCHEDULE
    max_minutes: float = 30.0
    work_dir: Path | None = None
    keep_topics: bool = False
    soak: bool = False
    rss_interval_s: float = 10.0
    quiet_s: float = 5.0
    finish_timeout_s: float = 600.0
    seed: int = 7

    @property
    def expected(self) -> int:
        """Input records the generator writes: every one must be answered.

        The generator interleaves at most one malformed record per valid event.
        """
        return self.events + min(self.malformed, self.events)

    def describe(self) -> dict[str, object]:
        """The options as plain values (JSON)."""
        return {"pipeline": self.pipeline, "events": self.events, "rate": self.rate, "malformed": self.malformed,
                "faults": format_faults(self.faults), "max_minutes": self.max_minutes, "soak": self.soak,
                "rss_interval_s": self.rss_interval_s, "quiet_s": self.quiet_s,
                "finish_timeout_s": self.finish_timeout_s, "seed": self.seed, "keep_topics": self.keep_topics}


def new_run_id() -> str:
    """Sortable and unique: ``20261201-153000-1a2b3c``."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def require_ready(stack: LocalStack, model_name: str = "fraud", pipeline: str | None = None) -> None:
    """Raise ``StackError`` unless both servers are ready and Triton serves ``model_name`` (the
    pipeline's ``triton.model_name``); ``pipeline`` is what the hint tells ``models build`` to build
    (default: the model's name)."""
    if not stack.status().ready:
        raise StackError(f"the local stack is not ready (state in {stack.settings.home}); "
                         f"run `streaminfer stack up` first")
    if not ModelControl(stack.settings.triton_http_url).ready_versions(model_name):
        raise StackError(f"Triton at {stack.settings.triton_http_url} has no READY {model_name!r} model; "
                         f"run `streaminfer models build {pipeline or model_name}` first")
