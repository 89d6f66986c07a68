"""``python -m engine.topics apply|drift``: topics as code from the command line.

Exit status: 0 in sync (or fixed), 1 unfixable drift (or, for ``drift``, any difference),
2 configuration or broker error.
"""

from __future__ import annotations

import argparse
import os
import sys

from engine.errors import StreaminferError
from engine.topics.apply import apply_topics, describe_drift
from engine.topics.specs import DEFAULT_CATALOG_PATH, TopicCatalog


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m engine.topics", description=__doc__)
    parser.add_argument("command", choices=["apply", "drift"])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("STREAMINFER_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        help="broker host:port (default: $STREAMINFER_KAFKA_BOOTSTRAP or 127.0.0.1:9092)",
    )
    parser.add_argument("--catalog", default=str(DEFAULT_CATALOG_PATH))
    parser.add_argument(
        "--replication-factor",
        type=int,
        help="for every topic (default: $STREAMINFER_TOPIC_REPLICATION_FACTOR, else the catalog)",
    )
    parser.add_argument("--name-prefix", default="", help="prefix every topic name")
    parser.add_argument("--dry-run", action="store_true", help="apply: only show what would change")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per broker call")
    args = parser.parse_args(argv)
    try:
        catalog = TopicCatalog.load(args.catalog)
        if args.name_prefix:
            catalog = catalog.with_name_prefix(args.name_prefix)
        if args.command == "drift":
            report = describe_drift(
                args.bootstrap,
                catalog,
                replication_factor=args.replication_factor,
                timeout_s=args.timeout,
            )
        else:
            report = apply_topics(
                args.bootstrap,
                catalog,
                dry_run=args.dry_run,
                replication_factor=args.replication_factor,
                timeout_s=args.timeout,
            )
    except StreaminferError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.render())
    if report.drift or (args.command == "drift" and not report.in_sync):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
