"""The fault schedule of a chaos run: which faults fire, and at what fraction of the run answered.

A schedule is a small declarative list (``kill@0.1,scale-out@0.2,...``). Faults are triggered by
progress, not by the clock: the fraction of the expected inputs already answered (scored or
dead-lettered, as a ``read_committed`` reader sees them), so a slow box still gets every fault in
the middle of the stream rather than after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.errors import ConfigError

#: Every fault kind the injector knows, with what it does (for ``--help`` and error messages).
FAULT_KINDS: dict[str, str] = {
    "kill": "SIGKILL worker 0 and start a new instance 0 (the same id fences the zombie's transaction)",
    "scale-out": "start `serve --workers 2 --instance 1` (instances 1 and 2 join the group)",
    "broker": "SIGKILL the Kafka broker, wait 3 s, restart it",
    "zombie": "SIGSTOP worker 0 past its session timeout, start a replacement, SIGCONT the old one",
    "triton": "SIGKILL Triton, wait 3 s, restart it",
    "scale-in": "SIGTERM the instances 1-2 supervisor (it must drain and exit 0)",
}


@dataclass(frozen=True)
class FaultSpec:
    """One scheduled fault.

    Attributes:
        kind: One of ``FAULT_KINDS``.
        at: Fraction of the expected answers (0 ≤ at < 1) at which it fires.
    """

    kind: str
    at: float

    @property
    def label(self) -> str:
        """``kind@at`` as written on the command line."""
        return f"{self.kind}@{self.at:g}"


DEFAULT_SCHEDULE: tuple[FaultSpec, ...] = (
    FaultSpec("kill", 0.10),
    FaultSpec("scale-out", 0.20),
    FaultSpec("broker", 0.30),
    FaultSpec("zombie", 0.45),
    FaultSpec("triton", 0.60),
    FaultSpec("scale-in", 0.75),
    FaultSpec("kill", 0.90),
)


def parse_faults(text: str) -> tuple[FaultSpec, ...]:
    """Parse ``kind@fraction[,kind@fraction...]``; ``""`` or ``none`` is an empty schedule.

    Faults are returned in firing order (by fraction; equal fractions keep the order written).

    Raises:
        ConfigError: an unknown kind, a fraction outside [0, 1), or a malformed item.
    """
    text = text.strip()
    if text.lower() in {"", "none"}:
        return ()
    specs = []
    for item in (part.strip() for part in text.split(",")):
        kind, sep, at_text = item.partition("@")
        kind = kind.strip().lower()
        if not sep or not kind:
            raise ConfigError(f"--faults: {item!r} is not kind@fraction (e.g. kill@0.1)")
        if kind not in FAULT_KINDS:
            raise ConfigError(f"--faults: unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        try:
            at = float(at_text)
        except ValueError:
            raise ConfigError(f"--faults: {item!r}: {at_text.strip()!r} is not a number") from None
        if not 0.0 <= at < 1.0:
            # At 1.0 everything is already answered: the fault could not disturb anything.
            raise ConfigError(f"--faults: {item!r}: the fraction must be in [0, 1)")
        specs.append(FaultSpec(kind, at))
    return tuple(sorted(specs, key=lambda spec: spec.at))


def format_faults(schedule: Iterable[FaultSpec]) -> str:
    """The ``--faults`` text of a schedule (``none`` when empty)."""
    return ",".join(spec.label for spec in schedule) or "none"


def progress_fraction(answered: int, expected: int) -> float:
    """Fraction of the run answered, capped at 1 (duplicates must not push a fault past the end)."""
    if expected <= 0:
        return 1.0
    return min(1.0, answered / expected)


class ProgressTrigger:
    """Hands out the schedule's faults one at a time, each once progress has reached its fraction.

    One at a time on purpose: a fault that blocks (a broker restart) may let progress jump past the
    next threshold, and the next fault must still come after this one, never together with it.
    """

    def __init__(self, schedule: Iterable[FaultSpec]) -> None:
        self._pending = sorted(schedule, key=lambda spec: spec.at)

    def next_due(self, progress: float) -> FaultSpec | None:
        """The next fault if ``progress`` has reached it (it is then no longer pending), else None."""
        if self._pending and progress >= self._pending[0].at:
            return self._pending.pop(0)
        return None

    @property
    def pending(self) -> tuple[FaultSpec, ...]:
        """Faults not fired yet, in firing order."""
        return tuple(self._pending)
