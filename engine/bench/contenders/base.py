"""What every contender shares: the run spec handed to its process, and the launcher interface."""

from __future__ import annotations

import os
import signal
import sys
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

import orjson

from engine.bench.workload import input_schema_of, load_plugin_for


@dataclass(frozen=True)
class RunSpec:
    """Everything a contender process needs, passed as one JSON argument.

    Attributes:
        name: Row name (``engine_eos``, ``naive``...).
        bootstrap: Kafka ``host:port``.
        input_topic: Topic to consume (pre-produced dataset, or a fresh paced topic).
        output_topic: The contender's own output topic.
        dead_letter_topic: Where rejected input goes (engine only).
        group_id: The contender's consumer group, fresh per run.
        transactional_id: Base transactional.id (exactly-once contenders), fresh per run.
        triton_url: Triton gRPC ``host:port``.
        triton_http_url: Triton HTTP ``host:port``.
        model_name: Triton model.
        max_rows: Rows per micro-batch (the engine's setting, shared by peers that batch).
        max_delay_ms: Micro-batch deadline.
        max_in_flight: Triton requests in flight.
        consume_batch: Messages per consume() call.
        commit_interval_ms: Transaction / offset commit interval.
        exactly_once: Transactions (True) or at-least-once.
        workers: Engine worker processes.
        rows: Rows to infer (standalone contenders).
        seed: Dataset seed (standalone contenders regenerate the same events).
        result_path: Where a standalone contender writes its figures (JSON).
        pipeline: Shipped pipeline name or absolute YAML path: the plugin every contender encodes and
            writes records with, and the settings ``serve`` runs.
        input_schema: Catalog topic (or ``.json`` file) validating input; bench topics have run-unique
            names, so it cannot be looked up by topic ('' = what the pipeline itself names).
    """

    name: str
    bootstrap: str
    input_topic: str
    output_topic: str
    dead_letter_topic: str
    group_id: str
    transactional_id: str
    triton_url: str
    triton_http_url: str
    model_name: str
    max_rows: int
    max_delay_ms: float
    max_in_flight: int
    consume_batch: int
    commit_interval_ms: int
    exactly_once: bool
    workers: int = 1
    rows: int = 0
    seed: int = 0
    result_path: str = ""
    pipeline: str = "fraud"
    input_schema: str = ""

    def resolved_input_schema(self) -> str:
        """:attr:`input_schema`, or the one ``serve --pipeline`` would use when it is empty."""
        if self.input_schema:
            return self.input_schema
        return input_schema_of(*load_plugin_for(self.pipeline))

    def to_json(self) -> str:
        """The spec as one command-line argument."""
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        """Parse what :meth:`to_json` wrote."""
        return cls(**orjson.loads(text))


class Contender(ABC):
    """Launcher of one contender: how to start its process and how to judge its progress.

    Attributes:
        name: Row name.
        transactional: Outputs are committed in transactions (progress = committed input offsets).
        standalone: Runs to completion by itself and writes its own figures (no Kafka output).
        time_capped: Too slow to finish N events: runs for a time cap, events/s from what it did.
        exactly_once: Delivery mode to put in the spec.
        workers: Engine worker processes.
        infers: Calls the model (False for the Kafka ceiling: it has no rows/s).
    """

    name: str = ""
    transactional: bool = False
    standalone: bool = False
    time_capped: bool = False
    exactly_once: bool = False
    workers: int = 1
    infers: bool = True

    @abstractmethod
    def command(self, spec: RunSpec) -> list[str]:
        """argv of the contender process."""

    def env(self, spec: RunSpec) -> dict[str, str]:
        """Environment of the contender process (the bench's own by default)."""
        return dict(os.environ)

    def settings_note(self) -> str:
        """One line on how this contender is configured, for the report."""
        return ""


def module_command(module: str, spec: RunSpec) -> list[str]:
    """``python -m <module> <spec-json>`` with this interpreter."""
    return [sys.executable, "-m", module, spec.to_json()]


def stop_flag() -> threading.Event:
    """An event set by SIGTERM or SIGINT: contender processes run until it is set."""
    stop = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop
