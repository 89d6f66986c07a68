"""Throughput of :meth:`EventDecoder.decode_batch` on a pipeline plugin's valid synthetic events.

Usage: ``python -m engine.codec.bench [--pipeline fraud] [--batch 4096] [--repeat 50] [--no-fast-path]``.
The events come from the plugin's ``synthetic_events`` and are validated with the schema ``serve`` would
use (the YAML's ``topics.input_schema``, else the plugin's). Prints events/s for the median and best batch;
single-threaded, so it is the per-core figure.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import orjson

from engine.codec.decode import EventDecoder
from engine.config.pipeline import load_pipeline
from engine.pipeline.loader import load_plugin
from engine.topics.registry import SchemaRegistry, compile_schema_file
from engine.topics.specs import TopicCatalog

#: Seed of the plugin's generator: the same events every run.
SEED = 0


def build_decoder(schema: str, fast_path: bool) -> EventDecoder:
    """A decoder on ``schema`` (catalog topic or ``.json`` file), with its fast path unless told not to."""
    if schema.endswith(".json"):
        validator, fast = compile_schema_file(schema)
    else:
        registry = SchemaRegistry(TopicCatalog.load())
        validator, fast = registry.validator(schema), registry.fast_path(schema)
    return EventDecoder(validator, fast_path=fast if fast_path else None)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the result."""
    parser = argparse.ArgumentParser(prog="python -m engine.codec.bench")
    parser.add_argument("--pipeline", default="fraud", help="Shipped pipeline name or a YAML path.")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=50)

    parser.add_argument("--no-fast-path", action="store_true", help="fastjsonschema only")
    args = parser.parse_args(argv)

    settings = load_pipeline(args.pipeline)
    plugin = load_plugin(settings.plugin, settings.plugin_options)
    decoder = build_decoder(settings.topics.input_schema or plugin.input_schema, not args.no_fast_path)
    # Compact JSON, UTF-8: the bytes a producer sends.
    values = [orjson.dumps(event) for event in itertools.islice(plugin.synthetic_events(SEED), args.batch)]
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
