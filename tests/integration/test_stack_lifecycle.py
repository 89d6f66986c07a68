"""`streaminfer stack` end to end on a second, private stack (own ports and state dir).

Runs the real CLI as users do: up → status (exit 0) → down leaves no process and frees every port;
a second up after down works; bad inputs (taken port, corrupt data dir) fail with one clear line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.stack.processes import pid_alive, port_is_open

CLI = [sys.executable, "-m", "engine.cli.main", "stack"]
PORTS = {"KAFKA_PORT": 29092, "KAFKA_CONTROLLER_PORT": 29093, "TRITON_HTTP_PORT": 28000,
         "TRITON_GRPC_PORT": 28001, "TRITON_METRICS_PORT": 28002}


@pytest.fixture()
def private_stack(tmp_path: Path, stack) -> dict[str, str]:  # `stack`: installs are cached already
    env = dict(os.environ)
    env["STREAMINFER_STACK_HOME"] = str(tmp_path / "stack")
    for key, port in PORTS.items():
        env[f"STREAMINFER_STACK_{key}"] = str(port)
    yield env
    subprocess.run([*CLI, "down", "--purge"], env=env, capture_output=True, timeout=120)


def _run(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _pids(home: Path) -> list[int]:
    return [int(p.read_text()) for p in home.glob("*.pid")]


def test_up_status_down_leaves_nothing_behind(private_stack: dict[str, str]) -> None:
    home = Path(private_stack["STREAMINFER_STACK_HOME"])
    up = _run(private_stack, "up")
    assert up.returncode == 0, up.stderr
    pids = _pids(home)
    assert len(pids) == 2
    cmdlines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids]
    assert any(b"kafka.Kafka" in c for c in cmdlines), "a real kafka.Kafka JVM must run"
    assert any(b"tritonserver" in c for c in cmdlines), "a real tritonserver must run"

    again = _run(private_stack, "up")  # idempotent: no second set of processes
    assert again.returncode == 0, again.stderr
    assert sorted(_pids(home)) == sorted(pids)

    status = _run(private_stack, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Apache Kafka 4.1" in status.stdout and "Triton 2." in status.stdout

    down = _run(private_stack, "down")
    assert down.returncode == 0, down.stderr
    assert not any(pid_alive(pid) for pid in pids)
    assert not any(port_is_open("127.0.0.1", port) for port in PORTS.values())
    assert _run(private_stack, "status").returncode == 1

    # A second up after down works on the same state.
    assert _run(private_stack, "up").returncode == 0
    assert _run(private_stack, "status").returncode == 0
    assert _run(private_stack, "down").returncode == 0


def test_port_taken_by_someone_else_is_a_clear_error(private_stack: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", PORTS["KAFKA_PORT"]))
        squatter.listen()
        result = _run(private_stack, "up", timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "port already in use" in lines[0] and "29092" in lines[0]


def test_corrupt_data_dir_is_a_clear_error(private_stack: dict[str, str]) -> None:
    data = Path(private_stack["STREAMINFER_STACK_HOME"]) / "kafka" / "data"
    data.mkdir(parents=True)
    (data / "garbage.log").write_bytes(b"\x00not a kafka log")
    result = _run(private_stack, "up", timeout=60)
    assert result.returncode == 2
    assert "corrupt" in result.stderr and "--purge" in result.stderr
    assert not any(port_is_open("127.0.0.1", port) for port in PORTS.values()), "nothing may be left running"


def test_missing_java_is_a_clear_error(private_stack: dict[str, str]) -> None:
    env = dict(private_stack)
    env["PATH"] = str(Path(sys.executable).parent)  # python is there, java is not
    env.pop("JAVA_HOME", None)
    result = _run(env, "up", timeout=60)
    assert result.returncode == 2
    assert "Java not found" in result.stderr


def test_failed_maven_fetch_is_a_clear_error(private_stack: dict[str, str], tmp_path: Path) -> None:
    env = dict(private_stack)
    env["STREAMINFER_STACK_CACHE_DIR"] = str(tmp_path / "empty-cache")
    env["STREAMINFER_STACK_KAFKA_VERSION"] = "0.0.0-does-not-exist"
    result = _run(env, "up", timeout=180)
    assert result.returncode == 2
    assert "Maven could not fetch org.apache.kafka:kafka_2.13:0.0.0-does-not-exist" in result.stderr
    assert not (tmp_path / "empty-cache" / "kafka" / "0.0.0-does-not-exist" / "libs").exists()
