"""``streaminfer serve`` refuses bad configuration and arguments with exit 2 and one ``error:`` line,
before it forks a worker or touches Kafka; a ``--workers`` supervisor reports a crashed child."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from engine.cli import serve_cmd
from engine.cli.main import app


def _serve(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["serve", *args], env=env)


def test_a_bad_field_exits_2_naming_it(tmp_path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("name: fraud\nbatching:\n  max_rows: 0\n")
    result = _serve("--pipeline", str(config))
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "batching.max_rows" in result.output


@pytest.mark.parametrize("text, expected", [
    ("name: [unclosed\n", "not valid YAML"),
    ("- a list\n", "top level must be a mapping"),
    ("name: fraud\nkafka:\n  no_such_field: 1\n", "kafka.no_such_field"),
    ("name: fraud\nkafka:\n  commit_interval_ms: 50000\n  transaction_timeout_ms: 60000\n", "commit_interval_ms"),
])
def test_malformed_pipeline_files_exit_2(tmp_path, text: str, expected: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    result = _serve("--pipeline", str(config))
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_unknown_pipeline_and_missing_file_exit_2(tmp_path) -> None:
    result = _serve("--pipeline", "no-such-pipeline")
    assert result.exit_code == 2 and "unknown pipeline 'no-such-pipeline'" in result.output
    result = _serve("--pipeline", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and "pipeline file not found" in result.output


def test_a_bad_environment_override_exits_2() -> None:
    result = _serve("--pipeline", "fraud", env={"STREAMINFER_BATCHING__MAX_IN_FLIGHT": "many"})
    assert result.exit_code == 2, result.output
    assert "batching.max_in_flight" in result.output


def test_bad_cli_arguments_exit_2() -> None:
    assert _serve("--pipeline", "fraud", "--delivery", "twice").exit_code == 2
    assert _serve("--pipeline", "fraud", "--workers", "0").exit_code == 2
    result = _serve("--pipeline", "fraud", "--workers", "2", "--instance", "blue")
    assert result.exit_code == 2 and "--instance must be a number" in result.output


def test_the_supervisor_reports_a_child_killed_by_a_signal(monkeypatch) -> None:
    # Children that exit 0 and one killed by SIGKILL: the supervisor must not report success.
    children = [[sys.executable, "-c", "pass"],
                [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]]
    started, real_popen = [], subprocess.Popen

    def fake_popen(argv, env):
        started.append(argv)
        return real_popen(children[len(started) - 1])

    monkeypatch.setattr(serve_cmd.subprocess, "Popen", fake_popen)
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        code = serve_cmd._run_workers("fraud", range(3, 5), None, 0, "INFO")
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
    assert code == 128 + signal.SIGKILL
    assert [argv[argv.index("--instance") + 1] for argv in started] == ["3", "4"]
