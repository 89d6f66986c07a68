"""``streaminfer bench`` is registered and validates its options before touching any server."""

from __future__ import annotations

from typer.testing import CliRunner

from engine.cli.main import app


def test_bench_is_a_command_with_the_issue_options() -> None:
    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    for option in ("--quick", "--events", "--partitions", "--json", "--workers"):
        assert option in result.output


def test_unknown_contender_is_one_clear_error() -> None:
    result = CliRunner().invoke(app, ["bench", "--quick", "--only", "engine_eos,spark"])
    assert result.exit_code == 2
    assert "unknown contenders ['spark']" in result.output
