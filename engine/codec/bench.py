"""Throughput of :meth:`EventDecoder.decode_batch` on valid ``fraud.transactions`` events.

Usage: ``python -m engine.codec.bench [--batch 4096] [--repeat 50] [--no-fast-path]``.
Prints events/s for the median and best batch; single-threaded, so it is the per-core figure.
"""

from __future__ import annotations

import argparse
import statistics
import time

from engine.codec.decode import EventDecoder
from engine.codec.sample_events import encode_events, make_transactions
from engine.topics.registry import SchemaRegistry
from engine.topics.specs import TopicCatalog


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the result."""
    parser = argparse.ArgumentParser(prog="python -m engine.codec.bench")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=50)

    parser.add_argument("--no-fast-path", action="store_true", help="fastjsonschema only")
    args = parser.parse_args(argv)

    registry = SchemaRegistry(TopicCatalog.load())
    decoder = EventDecoder(
        registry.validator("fraud.transactions"),
        fast_path=None if args.no_fast_path else registry.fast_path("fraud.transactions"),
    )
    values = encode_events(make_transactions(args.batch))
    mean_bytes = sum(map(len, values)) / len(values)
    if len(decoder.decode_batch(values).events) != args.batch:
        raise SystemExit("sample events do not validate: the benchmark would measure rejects")

    seconds = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        decoder.decode_batch(values)
        seconds.append(time.perf_counter() - start)
    median, best = statistics.median(seconds), min(seconds)
    print(
        f"decode_batch: {args.batch} events of ~{mean_bytes:.0f} B, {args.repeat} runs: "
        f"median {median * 1e3:.2f} ms ({args.batch / median:,.0f} events/s), "
        f"best {best * 1e3:.2f} ms ({args.batch / best:,.0f} events/s)"
    )


if __name__ == "__main__":
    main()
