"""The signal cache: same spec → same signal without regenerating; anything else → a miss."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.drift_eval import signals
from engine.drift_eval.cache import SignalCache
from engine.drift_eval.signals import make_signals
from engine.drift_eval.streams import StreamSpec

SPEC = StreamSpec("sea", "abrupt", 1, segment=500, concepts=3)


def test_a_stored_signal_loads_back_identical(tmp_path):
    cache = SignalCache(tmp_path)
    trace = signals.make_signal(SPEC)
    cache.store(trace)
    loaded = cache.load(SPEC)
    assert loaded is not None and cache.hits == 1
    assert np.array_equal(loaded.errors, trace.errors) and loaded.errors.dtype == np.int8
    assert loaded.drifts == trace.drifts and loaded.spec == SPEC


def test_the_key_covers_every_spec_field(tmp_path):
    cache = SignalCache(tmp_path)
    paths = {cache.path(SPEC)}
    for change in ({"seed": 2}, {"segment": 501}, {"concepts": 4}, {"width": 999}, {"kind": "gradual"}):
        paths.add(cache.path(dataclasses.replace(SPEC, **change)))
    assert len(paths) == 6


def test_second_run_loads_instead_of_generating(tmp_path, monkeypatch):
    cache = SignalCache(tmp_path)
    specs = [SPEC, dataclasses.replace(SPEC, seed=2)]
    first = make_signals(specs, workers=1, cache=cache)
    assert cache.misses == 2 and cache.hits == 0

    def must_not_generate(spec):
        raise AssertionError(f"{spec.name} regenerated despite the cache")

    monkeypatch.setattr(signals, "make_signal", must_not_generate)
    again = SignalCache(tmp_path)
    second = make_signals(specs, workers=1, cache=again)
    assert again.hits == 2 and [t.name for t in second] == [t.name for t in first]
    assert all(np.array_equal(a.errors, b.errors) for a, b in zip(first, second))


def test_an_unreadable_file_is_regenerated_not_trusted(tmp_path):
    cache = SignalCache(tmp_path)
    trace = signals.make_signal(SPEC)
    cache.store(trace)
    cache.path(SPEC).write_bytes(b"not an npz")
    assert cache.load(SPEC) is None and cache.misses == 1
    (regenerated,) = make_signals([SPEC], workers=1, cache=cache)
    assert np.array_equal(regenerated.errors, trace.errors)
    assert cache.load(SPEC) is not None  # the good signal was written back
