"""``streaminfer topics apply|drift`` — topics and schemas as code (``topics/topics.yaml``)."""

from __future__ import annotations

import typer

from engine.cli.errors import clear_errors

app = typer.Typer(help="Create/update topics from topics/topics.yaml; report drift.", no_args_is_help=True)

_BOOTSTRAP = typer.Option("127.0.0.1:9092", "--bootstrap", envvar="STREAMINFER_KAFKA__BOOTSTRAP_SERVERS",
                          help="Kafka bootstrap servers.")


def _catalog(name_prefix: str):
    from engine.topics.specs import TopicCatalog

    catalog = TopicCatalog.load()
    return catalog.with_name_prefix(name_prefix) if name_prefix else catalog


@app.command()
@clear_errors
def apply(
    bootstrap: str = _BOOTSTRAP,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would change."),
    replication_factor: int = typer.Option(None, "--replication-factor", min=1),
    name_prefix: str = typer.Option("", "--name-prefix", help="Prefix every topic name (test isolation)."),
) -> None:
    """Create missing topics, raise partitions, align configs. Idempotent; exit 1 on unfixable drift."""
    from engine.topics.apply import apply_topics

    report = apply_topics(bootstrap, _catalog(name_prefix), dry_run=dry_run, replication_factor=replication_factor)
    typer.echo(report.render())
    raise typer.Exit(1 if report.drift else 0)


@app.command()
@clear_errors
def drift(
    bootstrap: str = _BOOTSTRAP,
    name_prefix: str = typer.Option("", "--name-prefix"),
) -> None:
    """Compare the broker with the specs without changing anything; exit 1 on any difference."""
    from engine.topics.apply import describe_drift

    report = describe_drift(bootstrap, _catalog(name_prefix))
    typer.echo(report.render())
    raise typer.Exit(0 if report.in_sync else 1)
