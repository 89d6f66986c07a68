"""``streaminfer alerts tail`` — print alerts for on-call, newest as they come (read_committed)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import orjson
import typer

from engine.cli.errors import clear_errors
from engine.config.pipeline import load_pipeline

app = typer.Typer(help="On-call view of the alerts topic.", no_args_is_help=True)

_RANK = {"info": 0, "warning": 1, "critical": 2}


def format_alert(alert: dict) -> str:
    """One human line: time, severity, kind, subject, count, summary, dedup key."""
    when = datetime.fromtimestamp(alert.get("last_seen", 0) / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = (alert.get("evidence") or {}).get("summary", "")
    return (f"{when} {alert.get('severity', '?').upper():8s} {alert.get('kind', '?'):16s} "
            f"{alert.get('subject', '?')} ×{alert.get('count', 1)} — {summary} [{alert.get('dedup_key', '')}]")


def wanted(alert: dict, kinds: list[str] | None, severity: str | None) -> bool:
    """Kind among ``kinds`` (if given) and severity at least ``severity`` (if given)."""
    if kinds and alert.get("kind") not in kinds:
        return False
    if severity and _RANK.get(alert.get("severity", ""), -1) < _RANK[severity]:
        return False
    return True


@app.command("tail")
@clear_errors
def tail(
    pipeline: str = typer.Option("fraud", "--pipeline", "-p", help="Pipeline whose Kafka and alerts topic to read."),
    kind: list[str] = typer.Option(None, "--kind", help="Only these kinds (repeatable)."),
    severity: str = typer.Option(None, "--severity", help="Minimum severity: info | warning | critical."),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Replay the retained history first."),
    max_alerts: int = typer.Option(0, "--max", min=0, help="Stop after printing this many (0 = no limit)."),
    timeout: float = typer.Option(None, "--timeout", min=0, help="Stop after this many seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print each alert as one JSON line."),
    topic: str = typer.Option(None, "--topic", help="Alerts topic (default: the pipeline's)."),
) -> None:
    """Follow the alerts topic; Ctrl-C (or --max / --timeout) stops."""
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

    if severity is not None and severity not in _RANK:
        raise typer.BadParameter("must be info, warning or critical", param_hint="--severity")
    settings = load_pipeline(pipeline)
    name = topic or settings.topics.alerts
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": "streaminfer-alerts-tail",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         **settings.kafka.client_security()})
    printed = 0
    deadline = time.monotonic() + timeout if timeout is not None else None
    try:
        metadata = consumer.list_topics(name, timeout=10).topics[name]
        if metadata.error is not None:
            raise typer.BadParameter(f"topic {name!r}: {metadata.error.str()}", param_hint="--topic")
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        consumer.assign([TopicPartition(name, p, start) for p in sorted(metadata.partitions)])
        while (deadline is None or time.monotonic() < deadline) and (not max_alerts or printed < max_alerts):
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            try:
                alert = orjson.loads(message.value())
            except orjson.JSONDecodeError:
                continue
            if not isinstance(alert, dict) or not wanted(alert, kind, severity):
                continue
            typer.echo(orjson.dumps(alert).decode() if as_json else format_alert(alert))
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
