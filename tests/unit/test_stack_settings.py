"""Stack settings and process helpers, without starting servers."""

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.stack.processes import ManagedProcess, pid_alive, tail
from engine.stack.settings import StackSettings


def test_ports_must_be_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMINFER_STACK_KAFKA_PORT", "9092")
    monkeypatch.setenv("STREAMINFER_STACK_TRITON_GRPC_PORT", "9092")
    with pytest.raises(ValidationError, match="distinct"):
        StackSettings()


def test_heap_is_capped_at_one_gib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMINFER_STACK_KAFKA_HEAP_MB", "4096")
    with pytest.raises(ValidationError):
        StackSettings()


def test_managed_process_stops_only_what_it_started(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", tmp_path / "s.pid", tmp_path / "s.log", marker="streaminfer-test-marker")
    pid = process.start([sys.executable, "-c", "import time,sys; time.sleep(60)", "streaminfer-test-marker"],
                        env={}, cwd=tmp_path)
    assert process.pid() == pid and pid_alive(pid)
    assert process.stop(grace_s=5)
    assert not pid_alive(pid) and not (tmp_path / "s.pid").exists()
    assert process.stop(grace_s=1) is False  # idempotent


def test_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        process = ManagedProcess("x", tmp_path / "x.pid", tmp_path / "x.log", marker="streaminfer-test-marker")
        (tmp_path / "x.pid").write_text(str(stranger.pid))
        assert process.pid() is None
        assert process.stop(grace_s=1) is False
        assert stranger.poll() is None, "a process we did not start must never be signalled"
    finally:
        stranger.kill()
        stranger.wait()


def test_tail_reads_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 2) == "line 98\nline 99"
    assert tail(tmp_path / "missing.log") == ""
