"""``streaminfer stack up|status|down`` — the local real stack (Kafka from Maven jars, Triton from its wheel)."""

from __future__ import annotations

import time

import typer

from engine.cli.errors import clear_errors
from engine.stack.manager import LocalStack, StackStatus
from engine.stack.settings import load_stack_settings

app = typer.Typer(help="The local real stack: Apache Kafka (KRaft) and Triton, no Docker.", no_args_is_help=True)


def _print_status(status: StackStatus) -> None:
    for server in status.servers:
        state = "ready" if server.ready else ("starting/unhealthy" if server.pid else "stopped")
        ports = ", ".join(f"{name} {port}" for name, port in server.ports.items())
        pid = server.pid if server.pid is not None else "-"
        typer.echo(f"{server.name:<7} {state:<18} pid {pid:<8} {ports:<34} {server.version}")


@app.command()
@clear_errors
def up() -> None:
    """Install (once, cached) and start Kafka and Triton; wait until both are ready. Idempotent."""
    started = time.monotonic()
    stack = LocalStack(load_stack_settings())
    status = stack.up()
    _print_status(status)
    typer.echo(f"stack ready in {time.monotonic() - started:.1f}s (state in {stack.settings.home})")


@app.command()
@clear_errors
def status() -> None:
    """Say what is running; exit 0 only when both Kafka and Triton are ready."""
    result = LocalStack(load_stack_settings()).status()
    _print_status(result)
    raise typer.Exit(0 if result.ready else 1)


@app.command()
@clear_errors
def down(purge: bool = typer.Option(False, "--purge", help="Also delete data, logs and the model repository.")) -> None:
    """Stop exactly the processes `up` started (SIGTERM, then SIGKILL) and free their ports."""
    stack = LocalStack(load_stack_settings())
    stopped = stack.down(purge=purge)
    typer.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}" + (" (purged)" if purge else ""))
