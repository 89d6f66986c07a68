"""The ``streaminfer`` command line: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from engine.cli import stack_cmd

app = typer.Typer(
    name="streaminfer",
    help="Real-time streaming inference: Kafka micro-batches into Triton, exactly-once scores.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stack_cmd.app, name="stack")


def _register_optional_groups() -> None:
    """Command groups added by later phases register here; each module owns its group."""
    import importlib

    for module_name, group in (
        ("engine.cli.topics_cmd", "topics"),
        ("engine.cli.models_cmd", "models"),
        ("engine.cli.generate_cmd", "generate"),
        ("engine.cli.alerts_cmd", "alerts"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        app.add_typer(module.app, name=group)
    for module_name in ("engine.cli.serve_cmd", "engine.cli.demo_cmd", "engine.cli.top_cmd", "engine.cli.bench_cmd",
                        "engine.cli.learn_cmd", "engine.cli.drift_eval_cmd", "engine.cli.chaos_cmd"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(app)


_register_optional_groups()

if __name__ == "__main__":
    app()
