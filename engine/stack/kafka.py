"""Apache Kafka (KRaft, combined broker+controller) assembled from Maven Central and run as a JVM."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from engine.errors import StackError
from engine.stack.processes import ManagedProcess
from engine.stack.settings import StackSettings

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
CLUSTER_ID = "c3RyZWFtaW5mZXJsb2NhbA"  # fixed 22-char base64 id: a purge + re-format is reproducible


class KafkaInstaller:
    """Fetches the broker's jar closure (plus a log4j2 binding) into the cache with Maven."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.lib_dir = settings.cache_dir / "kafka" / settings.kafka_version / "libs"

    def installed(self) -> bool:
        """True when the jar closure for this version is already cached."""
        marker = self.lib_dir / ".complete"
        return marker.exists()

    def install(self) -> Path:
        """Download (once) and return the directory holding every jar of the classpath."""
        if self.installed():
            return self.lib_dir
        if shutil.which("mvn") is None:
            raise StackError("kafka: Maven ('mvn') is not on PATH; install Maven 3.8+ (apt-get install maven)")
        pom = resources.files("engine.stack.resources").joinpath("kafka-pom.xml").read_text()
        pom = pom.replace("@KAFKA_VERSION@", self.settings.kafka_version)
        staging = Path(tempfile.mkdtemp(prefix="kafka-libs-", dir=self._mkparent()))
        with tempfile.TemporaryDirectory() as work:
            Path(work, "pom.xml").write_text(pom)
            result = subprocess.run(
                ["mvn", "-q", "-B", f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
                 "dependency:copy-dependencies"],
                cwd=work, capture_output=True, text=True, timeout=900,
            )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            last = (result.stdout + result.stderr).strip().splitlines()[-3:]
            raise StackError(
                f"kafka: Maven could not fetch org.apache.kafka:kafka_2.13:{self.settings.kafka_version} "
                f"from Maven Central ({' | '.join(last)}); check network access to the registry and retry"
            )
        (staging / ".complete").write_text(self.settings.kafka_version)
        if self.lib_dir.exists():
            shutil.rmtree(self.lib_dir)
        staging.rename(self.lib_dir)  # atomic: a half-fetched closure is never mistaken for complete
        return self.lib_dir

    def _mkparent(self) -> Path:
        parent = self.lib_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        return parent


class KafkaServer:
    """One KRaft node bound to loopback, its data and logs under ``<stack home>/kafka``."""

    def __init__(self, settings: StackSettings, lib_dir: Path | None = None) -> None:
        self.settings = settings
        self.home = settings.home / "kafka"
        self.lib_dir = lib_dir or KafkaInstaller(settings).lib_dir
        self.data_dir = self.home / "data"
        self.properties = self.home / "server.properties"
        self.process = ManagedProcess(
            name="kafka", pid_file=settings.home / "kafka.pid", log_file=self.home / "kafka.log",
            marker=f"-Dstreaminfer.stack={settings.home}",
        )

    # -- configuration --------------------------------------------------------------------
    def write_config(self) -> None:
        """Write server.properties and the log4j2 config (idempotent)."""
        s = self.settings
        self.home.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{s.host}:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://{s.host}:{s.kafka_port},CONTROLLER://{s.host}:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://{s.host}:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            # One node: every internal topic has replication 1, or transactions and groups never start.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "transaction.max.timeout.ms": "900000",
            # Abort a timed-out transaction within a second of its timeout instead of up to 10 s later, so a
            # worker that stalled past transaction.timeout.ms finds it aborted as soon as it wakes.
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
            "auto.create.topics.enable": "false",
            "log.retention.check.interval.ms": "60000",
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        log4j = resources.files("engine.stack.resources").joinpath("kafka-log4j2.yaml").read_text()
        (self.home / "log4j2.yaml").write_text(log4j.replace("@LOG_DIR@", str(self.home)))

    def format_storage(self) -> None:
        """Format the KRaft log dir once; a dir left half-formatted is reported, not silently wiped."""
        meta = self.data_dir / "meta.properties"
        if meta.exists():
            text = meta.read_text(errors="replace")
            if f"cluster.id={CLUSTER_ID}" not in text:
                raise StackError(
                    f"kafka: data dir {self.data_dir} belongs to another cluster or is corrupt "
                    "(meta.properties does not match); run `streaminfer stack down --purge` and retry"
                )
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise StackError(
                f"kafka: data dir {self.data_dir} has files but no meta.properties (corrupt); "
                "run `streaminfer stack down --purge` and retry"
            )
        result = subprocess.run(
            [*self._java(), STORAGE_TOOL, "format", "--standalone", "-t", CLUSTER_ID,
             "-c", str(self.properties), "--ignore-formatted"],
            capture_output=True, text=True, timeout=120, env=self._env(),
        )
        if result.returncode != 0:
            raise StackError(f"kafka: storage format failed: {(result.stdout + result.stderr).strip()[-400:]}")

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> int:
        """Start the broker JVM (config and storage must be ready)."""
        return self.process.start([*self._java(), MAIN_CLASS, str(self.properties)],
                                  env=self._env(), cwd=self.home)

    def _java(self) -> list[str]:
        java = shutil.which("java", path=os.environ.get("PATH"))
        java_home = os.environ.get("JAVA_HOME")
        if java_home and Path(java_home, "bin", "java").exists():
            java = str(Path(java_home, "bin", "java"))
        if java is None:
            raise StackError("kafka: Java not found (need a JDK 17+ on PATH or JAVA_HOME); apt-get install openjdk-17-jre-headless")
        heap = self.settings.kafka_heap_mb
        return [
            java, f"-Xms{heap}m", f"-Xmx{heap}m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:ActiveProcessorCount=2", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={self.home}",
            f"-Dstreaminfer.stack={self.settings.home}",  # marks the pid as ours
            "-cp", f"{self.lib_dir}/*",
        ]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("CLASSPATH", None)
        return env

    def java_version(self) -> str:
        """``java -version`` first line, for status output and error messages."""
        java = self._java()[0]
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        return (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else "unknown"
