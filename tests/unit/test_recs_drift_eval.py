"""The recs drift-eval protocol without Kafka: one drift kind at a time, the old single knob unchanged,
feedback as RecsStream gives it, and the CTR signal seeing a taste shift."""

from __future__ import annotations

import hashlib

import numpy as np
import orjson
import pytest

from models.recs.drift_eval import (
    CHUNK,
    EvalWorld,
    RecsDriftSpec,
    RecsEvalConfig,
    make_raw_trace,
    simulate_clicks,
    stream_start_ms,
    to_step_trace,
)
from models.recs.features import request_tensors
from models.recs.generator import RecsStream
from models.recs.world import DRIFT_KINDS, DriftLevels, RecsWorld, sigmoid

SIZES = {"n_users": 400, "n_items": 800}


def _log_digest(stream: RecsStream, n: int) -> str:
    log = stream.training_log(n)
    digest = hashlib.sha256(orjson.dumps(log.requests))
    for column in (log.offsets, log.position, log.relevant, log.clicked, log.cold_user, log.cold_item):
        digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def test_the_default_single_knob_is_unchanged() -> None:
    # Digest of what the stream gave before drift kinds existed (computed on git HEAD's code before they
    # were added). Discrete outputs only (requests, sampled relevance and clicks), so the figure does not
    # depend on the CPU's float SIMD paths. Training logs are made this way: a change here retrains.
    stream = RecsStream(3, **SIZES)
    first = _log_digest(stream, 1500)
    stream.set_drift(0.6)
    assert hashlib.sha256((first + _log_digest(stream, 1500)).encode()).hexdigest() == \
        "15862bf68942ed8a793989381ba000a9e317444e90a34565c9e06360be07c9e8"


def test_naming_every_kind_is_the_single_knob() -> None:
    plain, named = RecsStream(3, drift=0.7, **SIZES), RecsStream(3, drift=0.7, kinds=DRIFT_KINDS, **SIZES)
    assert _log_digest(plain, 1200) == _log_digest(named, 1200)
    assert named.drift_levels == DriftLevels(0.7, 0.7, 0.7) == DriftLevels.of(0.7)
    with pytest.raises(ValueError):
        RecsStream(3, kinds=("weather",), **SIZES)


def test_a_popularity_shock_moves_the_popularity_curve_and_nothing_else() -> None:
    world = RecsWorld(5, **SIZES)
    users, regular = np.arange(len(world.users)), world.n_regular_items
    calm, shocked = world.log_popularity(0.0), world.log_popularity(DriftLevels(popularity=1.0))
    assert np.corrcoef(calm[:regular], shocked[:regular])[0, 1] < 0.7, "the regular ranks are reshuffled"
    np.testing.assert_allclose(shocked[regular:], calm[regular:], rtol=0, atol=1e-12)  # the cohort stays niche
    np.testing.assert_array_equal(world.user_taste(users, DriftLevels(popularity=1.0)), world.users.taste)
    stream = RecsStream(5, drift=1.0, kinds=("popularity",), **SIZES)
    assert (stream.world.item_index(stream.training_log(400).item_ids) >= regular).sum() == 0, "no cohort items"


def test_a_taste_shift_moves_tastes_only() -> None:
    world = RecsWorld(5, **SIZES)
    users = np.arange(len(world.users))
    moved = np.linalg.norm(world.user_taste(users, DriftLevels(taste=1.0)) - world.users.taste, axis=1)
    assert moved.mean() > 1.0
    np.testing.assert_array_equal(world.log_popularity(DriftLevels(taste=1.0)), world.log_popularity(0.0))


def test_a_cohort_drift_opens_the_cohort_without_touching_the_regular_catalogue() -> None:
    world = RecsWorld(5, **SIZES)
    regular = world.n_regular_items
    calm, opened = world.log_popularity(0.0), world.log_popularity(DriftLevels(cohort=1.0))
    np.testing.assert_array_equal(opened[:regular], calm[:regular])
    assert np.median(opened[regular:]) > np.quantile(opened[:regular], 0.9), "the cohort is a hit"
    np.testing.assert_array_equal(world.user_taste(np.arange(10), DriftLevels(cohort=1.0)), world.users.taste[:10])
    stream = RecsStream(5, drift=1.0, kinds=("cohort",), **SIZES)
    assert (stream.world.item_index(stream.training_log(400).item_ids) >= regular).mean() > 0.05


@pytest.mark.parametrize(("kinds", "level"), [(None, 0.0), (("taste",), 1.0), (("popularity",), 0.4),
                                              (("cohort",), 1.0)])
def test_block_clicks_are_what_feedback_reports(kinds, level) -> None:
    stream = RecsStream(9, kinds=kinds, **SIZES)
    stream.set_drift(level)
    requests = list(stream.requests(150))
    _, offsets, item_ids = request_tensors(requests, 1000)
    counts = np.minimum(np.diff(offsets), 10)
    shown = [i for r, c in enumerate(counts.tolist()) for i in item_ids[offsets[r]:offsets[r] + c].tolist()]
    fast = simulate_clicks(stream, requests, shown, counts)
    slow, at = [], 0
    for request, count in zip(requests, counts.tolist()):
        slow += [record["clicked"] for record in stream.feedback(request, shown[at:at + count])]
        at += count
    np.testing.assert_array_equal(fast, np.array(slow))


def test_spec_chunks_cut_at_the_drift_and_ramp() -> None:
    spec = RecsDriftSpec("taste", "gradual", 1, pre=1000, post=1500, width=600)
    chunks = spec.chunks()
    assert chunks[0] == (0, CHUNK) and chunks[-1][1] == 2500
    assert all(a < b for a, b in chunks) and all(b == c for (_, b), (c, _) in zip(chunks, chunks[1:]))
    assert (1000 in [a for a, _ in chunks]) and (1600 in [a for a, _ in chunks])
    levels = [spec.level(a, b) for a, b in chunks]
    assert levels[0] == 0.0 and levels[-1] == 1.0 and levels == sorted(levels)
    abrupt = RecsDriftSpec("taste", "abrupt", 1, pre=1000, post=500)
    assert [abrupt.level(a, b) for a, b in abrupt.chunks()] == [0.0] * 4 + [1.0] * 2


def test_protocol_sizes() -> None:
    full, quick = RecsEvalConfig.full(), RecsEvalConfig.quick()
    assert len(full.seeds) >= 10 and len(quick.seeds) == 3
    assert len(full.specs()) == len(full.seeds) * (3 * 2 + 1)
    assert {s.kind for s in quick.specs()} == {"abrupt", "gradual", "null"}
    assert {s.generator for s in quick.specs()} == {*DRIFT_KINDS, "null"}
    assert len({s.name for s in full.specs()}) == len(full.specs())
    assert RecsEvalConfig.full(first_seed=101).seeds[0] == 101 and stream_start_ms(1) != stream_start_ms(2)
    with pytest.raises(ValueError):
        RecsDriftSpec("taste", "null", 1, 10)


def _drift0_oracle(world_seed: int):
    """Ranks by the world's true relevance at drift 0: a champion that learned the training world perfectly."""
    world = RecsWorld(world_seed, **SIZES)

    def score(requests, _inputs, item_ids):
        counts = np.array([len(dict.fromkeys(r["candidates"])) for r in requests])
        row = np.repeat(np.arange(len(requests)), counts)
        users = world.resolve_users([r["user_id"] for r in requests], 0.0)
        items = world.view_items(world.item_index(item_ids), 0.0, item_ids)
        context = [r["context"] for r in requests]
        from models.recs.world import device_index, surface_index

        logit = world.relevance_logit(users.taste[row], items, device_index([c["device"] for c in context])[row],
                                      surface_index([c["surface"] for c in context])[row],
                                      np.array([c["hour"] for c in context], float)[row])
        return sigmoid(logit)

    return score


def test_the_ctr_signal_drops_after_an_abrupt_taste_shift() -> None:
    world = EvalWorld(5, **SIZES)
    spec = RecsDriftSpec("taste", "abrupt", 2, pre=1024, post=768)
    raw = make_raw_trace(spec, _drift0_oracle(5), world)
    before, after = raw.ctr[:1024].mean(), raw.ctr[1024:].mean()
    assert after < 0.75 * before, (before, after)
    assert raw.levels[:1024].max() == 0.0 and raw.levels[1024:].min() == 1.0
    assert set(raw.impressions.tolist()) <= {5, 10}          # min(k, 10) shown, k from the request
    trace = to_step_trace(raw)
    assert trace.clock[0] == 0 and trace.n_units == raw.impressions.sum()
    drift = trace.drifts[0]
    assert drift.start == drift.centre == int(raw.impressions[:1024].sum()) == trace.undrifted_units
    assert set(trace.signals) == {"ctr", "loss", "new_items"}


def test_a_new_cohort_raises_the_share_of_new_candidates_and_a_taste_shift_does_not() -> None:
    world = EvalWorld(5, **SIZES)
    cohort = make_raw_trace(RecsDriftSpec("cohort", "abrupt", 2, pre=1024, post=768), _drift0_oracle(5), world)
    taste = make_raw_trace(RecsDriftSpec("taste", "abrupt", 2, pre=1024, post=768), _drift0_oracle(5), world)
    assert cohort.new_items[1024:].mean() > 3 * cohort.new_items[512:1024].mean() + 0.01
    assert taste.new_items[1024:].mean() < 2 * taste.new_items[512:1024].mean() + 0.01


def test_a_null_stream_keeps_its_ctr() -> None:
    raw = make_raw_trace(RecsDriftSpec("null", "null", 3, pre=1536), _drift0_oracle(5), EvalWorld(5, **SIZES))
    halves = raw.ctr[:768].mean(), raw.ctr[768:].mean()
    assert abs(halves[0] - halves[1]) < 0.2 * max(halves)
    assert to_step_trace(raw).drifts == ()
