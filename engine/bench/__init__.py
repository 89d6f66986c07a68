"""``streaminfer bench``: the engine against its ceilings and its peers, on the same data and stack, for any
pipeline (``--pipeline fraud``, ``recs``, or a YAML): nothing here names a use case.

Layout, one job per module:

- :mod:`~engine.bench.settings` — what to run (options) and where (target stack, pipeline settings);
- :mod:`~engine.bench.workload` — what the pipeline's plugin decides: events, keys, output ids, topic specs;
- :mod:`~engine.bench.dataset` — the N synthetic events, pre-produced once to a fresh topic;
- :mod:`~engine.bench.topics` — fresh, uniquely named topics per run, shaped like the pipeline's, deleted afterwards;
- :mod:`~engine.bench.contenders` — one module per contender (its launcher and its process);
- :mod:`~engine.bench.watch`, :mod:`~engine.bench.latency`, :mod:`~engine.bench.pacer`,
  :mod:`~engine.bench.process_stats` — measuring instruments;
- :mod:`~engine.bench.process` — a contender process: start, sample while it runs, stop;
- :mod:`~engine.bench.saturated`, :mod:`~engine.bench.paced` — the two runs of every contender;
- :mod:`~engine.bench.runner` — the whole benchmark: dataset, then each contender in turn;
- :mod:`~engine.bench.results`, :mod:`~engine.bench.report`, :mod:`~engine.bench.machine` — figures,
  ratios, table/JSON/PNG and the machine they were taken on.
"""
