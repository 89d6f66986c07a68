"""``streaminfer stack up|status|down``: install, start, probe and stop Kafka and Triton together."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.errors import StackError
from engine.stack.health import kafka_ready, triton_ready, triton_server_metadata
from engine.stack.kafka import KafkaInstaller, KafkaServer
from engine.stack.processes import ManagedProcess, port_is_open, tail
from engine.stack.settings import StackSettings
from engine.stack.triton import TritonInstaller, TritonServer


@dataclass
class ServerStatus:
    """What ``status`` knows about one server."""

    name: str
    ready: bool
    pid: int | None
    ports: dict[str, int]
    version: str
    detail: str = ""


@dataclass
class StackStatus:
    """Both servers; ``ready`` only when both are."""

    servers: list[ServerStatus] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """True when every server answers its readiness probe."""
        return bool(self.servers) and all(s.ready for s in self.servers)


class LocalStack:
    """The local real stack: one Kafka node and one Triton server, state under ``settings.home``."""

    def __init__(self, settings: StackSettings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.say = say
        self.kafka_installer = KafkaInstaller(settings)
        self.triton_installer = TritonInstaller(settings)
        self.kafka = KafkaServer(settings, self.kafka_installer.lib_dir)
        self.triton = TritonServer(settings, self.triton_installer)

    # -- up -------------------------------------------------------------------------------
    def running(self) -> list[str]:
        """Names of the servers whose recorded process is alive (ready or not)."""
        return [p.name for p in (self.kafka.process, self.triton.process) if p.pid() is not None]

    def up(self) -> StackStatus:
        """Install what is missing, start what is not running, wait for readiness. Idempotent."""
        s = self.settings
        s.home.mkdir(parents=True, exist_ok=True)
        if not self.kafka_installer.installed():
            self.say(f"fetching Kafka {s.kafka_version} jars from Maven Central (once, cached in {s.cache_dir})")
        self.kafka_installer.install()
        if not self.triton_installer.installed():
            self.say(f"fetching nvidia-pytriton {s.pytriton_version} for its tritonserver binary (once, cached)")
        self.triton_installer.install()

        started: list[tuple[ManagedProcess, Callable[[], bool]]] = []
        if self.kafka.process.pid() is None:
            self._require_free_ports("kafka", {"kafka": s.kafka_port, "controller": s.kafka_controller_port})
            self.kafka.write_config()
            self.kafka.format_storage()
            pid = self.kafka.start()
            self.say(f"kafka: started pid {pid} on {s.kafka_bootstrap}")
        started.append((self.kafka.process, lambda: kafka_ready(s.kafka_bootstrap)))
        if self.triton.process.pid() is None:
            self._require_free_ports("triton", {"http": s.triton_http_port, "grpc": s.triton_grpc_port,
                                                "metrics": s.triton_metrics_port})
            pid = self.triton.start()
            self.say(f"triton: started pid {pid} on grpc {s.triton_grpc_url}, http {s.triton_http_url}")
        started.append((self.triton.process, lambda: triton_ready(s.triton_http_url)))
        self._wait_ready(started)
        return self.status()

    def wait_ready(self) -> None:
        """Block until both servers answer their readiness probes (StackError on timeout or crash)."""
        s = self.settings
        self._wait_ready([(self.kafka.process, lambda: kafka_ready(s.kafka_bootstrap)),
                          (self.triton.process, lambda: triton_ready(s.triton_http_url))])

    def _require_free_ports(self, server: str, ports: dict[str, int]) -> None:
        taken = {name: port for name, port in ports.items() if port_is_open(self.settings.host, port)}
        if taken:
            listing = ", ".join(f"{name} {port}" for name, port in taken.items())
            raise StackError(
                f"{server}: port already in use ({listing}) by a process this stack did not start; "
                f"stop it or choose other ports (STREAMINFER_STACK_*_PORT)"
            )

    def _wait_ready(self, servers: list[tuple[ManagedProcess, Callable[[], bool]]]) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        pending = list(servers)
        while pending:
            for item in list(pending):
                process, probe = item
                if process.pid() is None:
                    raise StackError(
                        f"{process.name}: exited during start; last lines of {process.log_file}:\n"
                        f"{tail(process.log_file)}"
                    )
                if probe():
                    pending.remove(item)
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(p.name for p, _ in pending)
                logs = "\n".join(f"--- {p.name} ({p.log_file}):\n{tail(p.log_file)}" for p, _ in pending)
                raise StackError(f"{names}: not ready after {self.settings.start_timeout_s:.0f}s\n{logs}")
            time.sleep(0.25)

    # -- status ---------------------------------------------------------------------------
    def status(self) -> StackStatus:
        """Probe both servers; never raises for a server that is down."""
        s = self.settings
        kafka_pid = self.kafka.process.pid()
        triton_pid = self.triton.process.pid()
        meta = triton_server_metadata(s.triton_http_url) if triton_pid else {}
        triton_version = f"Triton {meta.get('version', '?')} ({self.triton.version()})" if meta else self.triton.version()
        return StackStatus(servers=[
            ServerStatus("kafka", kafka_pid is not None and kafka_ready(s.kafka_bootstrap), kafka_pid,
                         {"kafka": s.kafka_port, "controller": s.kafka_controller_port},
                         f"Apache Kafka {s.kafka_version} (KRaft)"),
            ServerStatus("triton", triton_pid is not None and triton_ready(s.triton_http_url), triton_pid,
                         {"http": s.triton_http_port, "grpc": s.triton_grpc_port, "metrics": s.triton_metrics_port},
                         triton_version),
        ])

    # -- down -----------------------------------------------------------------------------
    def down(self, purge: bool = False) -> list[str]:
        """Stop exactly the processes ``up`` started (Triton first, then Kafka); optionally wipe state."""
        stopped = []
        for process in (self.triton.process, self.kafka.process):
            if process.stop(self.settings.stop_timeout_s):
                stopped.append(process.name)
        if purge and self.settings.home.exists():
            shutil.rmtree(self.settings.home)
        return stopped
