"""The recs side of ``streaminfer drift-eval --pipeline recs``: drifting recs streams, the champion, feedback.

For every stream: requests of the synthetic world (:class:`~models.recs.generator.RecsStream`, the world
the champion was trained in) with a known drift point of one kind — a taste shift, a new-item cohort or a
popularity shock (:data:`~models.recs.world.DRIFT_KINDS`), abrupt or ramped over ``width`` requests — or
none at all (null streams). The trained champion (the cached artifact of ``streaminfer models build
recs``) ranks each block of requests at once; the top ``min(k, 10)`` items are shown and the world's
position-based click model answers at the drift level the request was generated at. What the recs
learner's concept-drift detectors watch comes out, one value per request:

- ``ctr``: clicks / impressions in the first 10 positions (a drop is the drift);
- ``loss``: the champion's mean per-impression log loss, probability = the learning side's
  ``score_to_probability`` of its score (a rise is the drift).

The clock is impressions (items shown), the unit of the targets: delays and false-alarm rates are counted
in it. The engine runs the Kafka leg, the detectors and the scoring (:mod:`engine.drift_eval.traces`).

Every evaluation seed is a different request stream (its own start time, hence its own random blocks)
in the one world the champion knows; request ids carry the stream name, so feedback draws differ too.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from models.recs.constants import DEFAULT_K, MAX_CANDIDATES
from models.recs.features import request_tensors
from models.recs.generator import RecsStream
from models.recs.hashing import hash_ids
from models.recs.topk import top_k_per_request
from models.recs.world import (
    DEFAULT_START_MS,
    DRIFT_KINDS,
    device_index,
    examination_probability,
    sigmoid,
    surface_index,
)


#: The champion's world and training seed (``streaminfer models build recs`` trains seed 7).
WORLD_SEED = 7
#: Positions the signals look at (CTR@10); a request shows ``min(k, SHOWN_K)`` items.
SHOWN_K = 10
#: Requests ranked (and fed back) at once; a gradual ramp moves its level once per chunk.
CHUNK = 256
SIGNALS = ("ctr", "loss")
KINDS = ("abrupt", "gradual", "null")
#: What the detectors must reach (abrupt drifts; false alarms on undrifted impressions).
TARGET_DETECTION_RATE = 0.90
TARGET_MEAN_DELAY = 5000
TARGET_FALSE_ALARMS_PER_1M = 1.0
UNIT = "impressions"
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class RecsDriftSpec:
    """One evaluation stream.

    Attributes:
        generator: What drifts: ``taste``, ``cohort``, ``popularity`` (``null`` for a null stream).
        kind: ``abrupt``, ``gradual`` or ``null``.
        seed: Evaluation seed (>= 1): which request stream of the champion's world.
        pre: Requests before the drift starts (a null stream's whole length).
        post: Requests from the drift's start on (0 for a null stream).
        width: Requests over which a gradual drift ramps from 0 to 1.
    """

    generator: str
    kind: str
    seed: int
    pre: int
    post: int = 0
    width: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS or (self.kind == "null") != (self.generator == "null"):
            raise ValueError(f"bad stream {self.generator}/{self.kind}")
        if self.generator != "null" and self.generator not in DRIFT_KINDS:
            raise ValueError(f"unknown drift kind {self.generator!r}; known: {', '.join(DRIFT_KINDS)}")
        if self.seed < 1:
            raise ValueError("evaluation seeds start at 1 (the training stream is not one of them)")

    @property
    def name(self) -> str:
        """``recs-taste-abrupt-s3``, ``recs-null-s3``."""
        return f"recs-null-s{self.seed}" if self.kind == "null" else f"recs-{self.generator}-{self.kind}-s{self.seed}"

    @property
    def n_requests(self) -> int:
        """Requests in the stream."""
        return self.pre + self.post

    @property
    def ramp(self) -> int:
        """Requests of the transition (1 for abrupt)."""
        return self.width if self.kind == "gradual" else 1

    def level(self, start: int, stop: int) -> float:
        """Drift level of the requests ``start..stop`` (a chunk): the ramp's value at the chunk's middle."""
        if self.kind == "null" or stop <= self.pre:
            return 0.0
        if self.kind == "abrupt":
            return 1.0
        return float(min(1.0, max(0.0, ((start + stop) / 2 - self.pre) / self.width)))

    def chunks(self) -> list[tuple[int, int]]:
        """Request ranges ranked at once: ``CHUNK`` long, cut at the drift's start and the ramp's end."""
        cuts = {0, self.n_requests}
        if self.kind != "null":
            cuts.add(self.pre)
        if self.kind == "gradual":
            cuts.add(min(self.n_requests, self.pre + self.width))
        bounds = sorted(cuts)
        out = []
        for lo, hi in zip(bounds, bounds[1:]):
            out += [(a, min(a + CHUNK, hi)) for a in range(lo, hi, CHUNK)]
        return out


@dataclass(frozen=True)
class RecsEvalConfig:
    """Sizes of one recs protocol run (requests unless said otherwise).

    Attributes:
        seeds: Evaluation seeds; every drift kind × {abrupt, gradual} and a null stream per seed.
        pre: Requests before each drift (the detectors' warm-up, and undrifted impressions).
        post: Requests from the drift's start to the stream's end.
        width: Ramp of the gradual drifts.
        null_length: Requests of each null stream.
        max_delay: Latest an alert may come after a drift's start and still detect it, impressions.
        cooldown: Alert cooldown, impressions (= ``max_delay``, as in the River protocol: firings inside
            the window that credits a detection are one incident).
        workers: Processes making traces.
    """

    seeds: tuple[int, ...]
    pre: int
    post: int
    width: int
    null_length: int
    max_delay: int
    cooldown: int
    workers: int = 2

    @classmethod
    def full(cls, seeds: int | None = None, workers: int = 2, first_seed: int = 1) -> RecsEvalConfig:
        """10 seeds: 60 drifting streams of 24k requests (drift at 16k), 10 null streams of 64k."""
        n = seeds or 10
        return cls(tuple(range(first_seed, first_seed + n)), 16_384, 8_192, 2_048, 65_536, 25_000, 25_000, workers)

    @classmethod
    def quick(cls, seeds: int | None = None, workers: int = 2, first_seed: int = 1) -> RecsEvalConfig:
        """3 seeds, shorter streams: 18 drifting streams of 12k requests, 3 null streams of 24k."""
        n = seeds or 3
        return cls(tuple(range(first_seed, first_seed + n)), 8_192, 4_096, 2_048, 24_576, 25_000, 25_000, workers)

    def specs(self) -> list[RecsDriftSpec]:
        """Every stream of the run, grouped by drift kind then kind then seed."""
        out = [RecsDriftSpec(drift, kind, seed, self.pre, self.post, self.width)
               for drift in DRIFT_KINDS for kind in ("abrupt", "gradual") for seed in self.seeds]
        return out + [RecsDriftSpec("null", "null", seed, self.null_length) for seed in self.seeds]


# -- the champion -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Champion:
    """The trained recs ranker's TorchScript bytes and where they came from."""

    torchscript: bytes
    fingerprint: str
    from_cache: bool
    metrics: dict[str, Any]

    @property
    def sha256(self) -> str:
        """SHA-256 of the artifact."""
        return hashlib.sha256(self.torchscript).hexdigest()

    @cached_property
    def weights_digest(self) -> str:
        """SHA-256 of the weights alone: equal for two trainings that learned the same model (the
        TorchScript archive's bytes are not: they carry the code's file names and digests)."""
        import torch

        digest = hashlib.sha256()
        for name, tensor in sorted(self.load().state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().to(torch.float64).contiguous().numpy().tobytes())
        return digest.hexdigest()

    def load(self) -> Any:
        """The scripted module, CPU, eval mode."""
        import torch

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.*")
            return torch.jit.load(io.BytesIO(self.torchscript), map_location="cpu").eval()


def load_champion(cache_dir: Path | None = None) -> Champion:
    """The champion ``streaminfer models build recs`` builds: from the model build cache, or trained
    once by the same entry point (seed 7, default settings) and cached there."""
    from models.build_cache import cached_or_trained, default_cache_dir
    from models.recs.export import MODEL_NAME, training_fingerprint
    from models.recs.train import TrainSettings, train_recs_model

    settings = TrainSettings()
    fingerprint = training_fingerprint(WORLD_SEED, settings)
    torchscript, metrics, from_cache = cached_or_trained(
        Path(cache_dir) if cache_dir else default_cache_dir(), MODEL_NAME, fingerprint,
        lambda: train_recs_model(seed=WORLD_SEED, settings=settings))
    return Champion(torchscript, fingerprint, from_cache, metrics)


# -- feedback ---------------------------------------------------------------------------------------------

def simulate_clicks(stream: RecsStream, requests: Sequence[dict[str, Any]], shown: Sequence[str],
                    counts: np.ndarray) -> np.ndarray:
    """``RecsStream.feedback``'s clicks for a block of requests at once (the stream's current drift).

    Request ``r`` was shown ``shown[sum(counts[:r]) : sum(counts[:r + 1])]``, best first. The click of
    each row is the one ``stream.feedback(requests[r], its list)`` reports — same world, same drift, the
    same random source seeded by the request id — but the world is asked once per block, not once per
    request (``feedback`` costs ~0.8 ms a request, mostly in building its records).

    Returns:
        bool [len(shown)], in ``shown`` order.
    """
    world, drift = stream.world, stream.drift_levels
    counts = np.asarray(counts, np.int64)
    n = int(counts.sum())
    if n == 0:
        return np.zeros(0, bool)
    row_request = np.repeat(np.arange(len(requests)), counts)
    users = world.resolve_users([r["user_id"] for r in requests], drift)
    ids = np.asarray(shown, dtype=np.str_)
    items = world.view_items(world.item_index(ids), drift, ids)
    contexts = [r["context"] for r in requests]
    device = device_index([c["device"] for c in contexts])
    surface = surface_index([c["surface"] for c in contexts])
    hour = np.array([c["hour"] for c in contexts], dtype=np.float64)
    logit = world.relevance_logit(users.taste[row_request], items, device[row_request], surface[row_request],
                                  hour[row_request])
    starts = np.cumsum(counts) - counts
    position = np.arange(n) - np.repeat(starts, counts) + 1
    p_click = sigmoid(logit) * examination_probability(position)
    uniforms = np.empty(n)
    seeds = hash_ids([r["request_id"] for r in requests], salt=stream.seed).tolist()
    for start, count, seed in zip(starts.tolist(), counts.tolist(), seeds):
        if count:
            uniforms[start:start + count] = np.random.default_rng([stream.seed, seed]).random(count)
    return uniforms < p_click


# -- traces -----------------------------------------------------------------------------------------------

def stream_start_ms(seed: int) -> int:
    """Start of evaluation stream ``seed``: a week apart and 5 h of local time shifted per seed."""
    return DEFAULT_START_MS + seed * (7 * _DAY_MS + 5 * 3_600_000)


@dataclass(frozen=True)
class EvalWorld:
    """The world the streams come from: the champion's (tests use a smaller one with a smaller model)."""

    seed: int = WORLD_SEED
    n_users: int = 5000
    n_items: int = 8000


@dataclass
class RawTrace:
    """Per-request values of one stream, before the engine's trace wrapping."""

    spec: RecsDriftSpec
    ctr: np.ndarray
    loss: np.ndarray
    impressions: np.ndarray  # int64 per request
    levels: np.ndarray  # drift level per request
    new_items: np.ndarray  # share of the request's candidates the learner would call new (feature drift)


Scorer = Callable[[list[dict[str, Any]], dict[str, np.ndarray], np.ndarray], np.ndarray]


def module_scorer(model: Any) -> Scorer:
    """A ranker module (the champion: positional ``user_bucket, item_bucket, context``) as a scorer of
    ``(requests, request_tensors inputs, item ids) → float64 [rows]``."""
    import torch

    def score(_requests: list[dict[str, Any]], inputs: dict[str, np.ndarray], _ids: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(*(torch.from_numpy(inputs[name]) for name in ("user_bucket", "item_bucket", "context")))
        return out.numpy().reshape(-1).astype(np.float64)

    return score


def rank_and_feedback(stream: RecsStream, scorer: Scorer, requests: list[dict[str, Any]],
                      to_probability: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank a block with the scorer, show ``min(k, SHOWN_K)``, simulate clicks: (ctr, loss, impressions)."""
    inputs, offsets, item_ids = request_tensors(requests, MAX_CANDIDATES)
    scores = np.asarray(scorer(requests, inputs, item_ids), np.float64).reshape(-1)
    ks = np.minimum(np.fromiter((r.get("k", DEFAULT_K) for r in requests), np.int64, len(requests)), SHOWN_K)
    rows, kept = top_k_per_request(scores, offsets, ks)
    clicked = simulate_clicks(stream, requests, item_ids[rows].tolist(), kept).astype(np.float64)
    # The learner's click probability: P(relevant) times the slot's examination propensity (it estimates the
    # curve from feedback — within 15 % of the world's, tests/unit/test_learn_position_bias.py; the world's
    # own curve stands in for that estimate here).
    slots = np.concatenate([np.arange(1, n + 1) for n in kept.tolist()]) if len(kept) else np.zeros(0, np.int64)
    examination = examination_probability(slots) / examination_probability(np.array([1]))[0]
    p = np.clip(to_probability(scores[rows]) * examination, 1e-7, 1 - 1e-7)
    row_loss = -(clicked * np.log(p) + (1 - clicked) * np.log1p(-p))
    request_of_row = np.repeat(np.arange(len(requests)), kept)
    shown = np.maximum(kept, 1)
    ctr = np.bincount(request_of_row, clicked, len(requests)) / shown
    loss = np.bincount(request_of_row, row_loss, len(requests)) / shown
    return ctr, loss, kept


def make_raw_trace(spec: RecsDriftSpec, scorer: Scorer, world: EvalWorld = EvalWorld()) -> RawTrace:
    """Run one stream through a scorer (the champion: :func:`module_scorer`) and the click model."""
    from models.recs.learning import recs_learning

    to_probability = recs_learning().score_to_probability
    kinds = DRIFT_KINDS if spec.kind == "null" else (spec.generator,)
    stream = RecsStream(world.seed, n_users=world.n_users, n_items=world.n_items,
                        start_ms=stream_start_ms(spec.seed), kinds=kinds)
    n = spec.n_requests
    ctr, loss, levels, new_items = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    impressions = np.zeros(n, np.int64)
    catalog = warmed_catalog(stream, stream_start_ms(spec.seed))
    for start, stop in spec.chunks():
        level = spec.level(start, stop)
        stream.set_drift(level)
        requests = list(stream.requests(stop - start))
        for offset, request in enumerate(requests):  # our own ids: feedback draws differ per stream
            request["request_id"] = f"{spec.name}-{start + offset}"
        ctr[start:stop], loss[start:stop], impressions[start:stop] = rank_and_feedback(
            stream, scorer, requests, to_probability)
        for offset, request in enumerate(requests):  # the learner's item-mix feature, as it computes it
            candidates, time_ms = request["candidates"], request["request_time"]
            new_items[start + offset] = catalog.request_features(candidates, time_ms)["new_item_share"]
            catalog.observe_candidates(candidates, time_ms)
        levels[start:stop] = level
    return RawTrace(spec, ctr, loss, impressions, levels, new_items)


def warmed_catalog(stream: RecsStream, start_ms: int) -> Any:
    """The learner's :class:`~engine.learn.ranking.metrics.CatalogMix`, as if it had run for a day before the
    stream: every item created before the stream's start already seen, and its warm-up long over."""
    from engine.learn.ranking.metrics import CatalogMix
    from engine.learn.ranking.settings import RankingLearnSettings
    from engine.learn.settings import load_learn_settings

    ranking = load_learn_settings("recs", settings_cls=RankingLearnSettings).ranking
    age_ms = int(ranking.new_item_age_s * 1000)
    catalog = CatalogMix(1000, age_ms, ranking.max_items_tracked)
    day_before = start_ms - 86_400_000
    catalog.observe_candidates([], day_before)  # starts (and ends) the warm-up a day ago
    items = stream.world.items
    existing = stream.world.item_ids[: items.n_regular][items.created_ms[: items.n_regular] < start_ms]
    catalog.observe_candidates([str(i) for i in existing], day_before + age_ms)
    return catalog


def to_step_trace(raw: RawTrace) -> Any:
    """The engine's trace: signals per request on the impression clock, true drifts in impressions."""
    from engine.drift_eval.signals import TrueDrift
    from engine.drift_eval.traces import StepTrace, TraceSpec

    spec = raw.spec
    clock = np.concatenate(([0], np.cumsum(raw.impressions)[:-1])).astype(np.int64)
    total = int(raw.impressions.sum())

    def at(request: int) -> int:
        return int(clock[request]) if request < len(clock) else total

    drifts: tuple[TrueDrift, ...] = ()
    width = 1
    if spec.kind == "abrupt":
        drifts = (TrueDrift(at(spec.pre), at(spec.pre), at(spec.pre)),)
    elif spec.kind == "gradual":
        drifts = (TrueDrift(at(spec.pre), at(spec.pre + spec.width // 2), at(spec.pre + spec.width)),)
        # A linear ramp has no leading tail: nothing before its start is "early" (StepTrace.drift_width).
        width = max(1, drifts[0].centre - drifts[0].start)
    return StepTrace(TraceSpec(spec.generator, spec.kind, spec.seed, spec.name),
                     {"ctr": raw.ctr, "loss": raw.loss, "new_items": raw.new_items}, clock, total, drifts, width)


_WORKER_SCORER: Any = None


def _init_worker(torchscript: bytes) -> None:
    import torch

    global _WORKER_SCORER
    torch.set_num_threads(1)  # one core per worker on a shared box
    _WORKER_SCORER = module_scorer(Champion(torchscript, "", True, {}).load())


def _make_in_worker(spec: RecsDriftSpec) -> RawTrace:
    return make_raw_trace(spec, _WORKER_SCORER)


#: The recs modules a trace depends on (the champion's bytes are keyed separately): editing one of them
#: invalidates cached traces; editing any other (the serving plugin, training, tools) does not.
TRACE_SOURCES = ("click_log.py", "constants.py", "drift_eval.py", "features.py", "generator.py", "hashing.py",
                 "learning/__init__.py", "population.py", "retrieval.py", "topk.py", "world.py")


def code_digest() -> str:
    """Digest of the code a trace depends on: :data:`TRACE_SOURCES` and the learning side's score →
    probability mapping."""
    import inspect

    from models.recs.learning import recs_learning

    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    mapping = inspect.getsourcefile(recs_learning().score_to_probability)
    # The item-mix feature is the learner's own CatalogMix, with the recs learner's settings.
    learner = [package.parents[1] / "engine" / "learn" / "ranking" / "metrics.py",
               package.parents[1] / "compose" / "pipelines" / "recs.learn.yaml"]
    for path in [package / name for name in TRACE_SOURCES] + ([Path(mapping)] if mapping else []) + learner:
        digest.update(str(path.relative_to(path.parents[1])).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def make_traces(specs: Sequence[RecsDriftSpec], champion: Champion, workers: int = 2, cache: Any = None,
                progress: Callable[[Any], None] | None = None) -> list[Any]:
    """Engine traces of every spec, in order; from ``cache`` (an engine ``TraceCache``) where present."""
    import numpy
    import torch

    key_base = (champion.weights_digest, code_digest(), numpy.__version__, torch.__version__)
    keys = [repr((asdict(spec), *key_base)) for spec in specs]
    traces: dict[int, Any] = {}
    for i, (spec, key) in enumerate(zip(specs, keys)):
        cached = cache.load(spec.name, key) if cache is not None else None
        if cached is not None:
            traces[i] = cached
            if progress:
                progress(cached)
    todo = [i for i in range(len(specs)) if i not in traces]

    def done(i: int, raw: RawTrace) -> None:
        trace = traces[i] = to_step_trace(raw)
        if cache is not None:
            cache.store(trace, keys[i])
        if progress:
            progress(trace)

    if workers <= 1 or len(todo) <= 1:
        _init_worker(champion.torchscript)
        for i in todo:
            done(i, _make_in_worker(specs[i]))
    elif todo:
        import multiprocessing

        # spawn: a fresh interpreter per worker, no torch state inherited through fork
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(champion.torchscript,)) as pool:
            for i, raw in zip(todo, pool.map(_make_in_worker, [specs[i] for i in todo], chunksize=1)):
                done(i, raw)
    return [traces[i] for i in range(len(specs))]


# -- what the plugin hook returns -------------------------------------------------------------------------

def default_watches() -> list[tuple[str, Any]]:
    """(signal, detector) pairs of the recs learner's drift detectors, as configured for it: CTR with
    ``ctr_detector`` (a drop), log loss with ``loss_detector`` (a rise), and the item-mix feature
    ``new_item_share`` of the candidates with the feature-drift detector (what sees a new cohort)."""
    from engine.learn.ranking.settings import RankingLearnSettings
    from engine.learn.settings import load_learn_settings

    settings = load_learn_settings("recs", settings_cls=RankingLearnSettings)
    concept = settings.concept_drift
    return [("ctr", concept.ctr_detector), ("loss", concept.loss_detector),
            ("new_items", settings.feature_drift.detector.model_copy(
                update={"direction": "increase"} if "new_item_share" in settings.feature_drift.increase_only else {}))]


def drift_eval_traces(quick: bool, seeds: int | None = None, workers: int = 2, cache: Any = None,
                      say: Callable[[str], None] = print, config: RecsEvalConfig | None = None) -> Any:
    """The recs protocol's traces and how to judge them (``RecsPipeline.drift_eval_traces``)."""
    from engine.drift_eval.traces import DriftEvalTraces, Target

    config = config or (RecsEvalConfig.quick if quick else RecsEvalConfig.full)(seeds, workers)
    config = replace(config, workers=workers)
    started = time.monotonic()
    champion = load_champion()
    origin = "model build cache" if champion.from_cache else "trained now, cached"
    say(f"champion: recs ranker {champion.fingerprint[:16]} ({origin})")
    specs = config.specs()
    say(f"signals: {len(specs)} streams, {sum(s.n_requests for s in specs):,} requests, {config.workers} workers")
    traces = make_traces(specs, champion, config.workers, cache, progress=lambda t: say(
        f"  {t.name}: {t.n_steps:,} requests, {t.n_units:,} {UNIT}, ctr {t.signals['ctr'].mean():.4f}, "
        f"loss {t.signals['loss'].mean():.4f}, drift at {[d.start for d in t.drifts]}"))
    if cache is not None:
        say(f"signal cache {cache.directory}: {cache.hits} loaded, {cache.misses} generated")
    targets = (Target("detection_rate", ">=", TARGET_DETECTION_RATE, "of abrupt drifts"),
               Target("mean_delay", "<=", TARGET_MEAN_DELAY, f"{UNIT}, abrupt drifts"),
               Target(f"false_alarms_per_1m_{UNIT}", "<=", TARGET_FALSE_ALARMS_PER_1M,
                      f"false pages per 1M undrifted {UNIT}"))
    description = {
        **asdict(config), "world_seed": WORLD_SEED, "shown_k": SHOWN_K, "chunk": CHUNK,
        "drift_kinds": list(DRIFT_KINDS), "unit": UNIT, "requests": "sizes pre/post/width/null_length in requests",
        "champion": {"fingerprint": champion.fingerprint, "sha256": champion.sha256,
                     "weights_sha256": champion.weights_digest,
                     "from_cache": champion.from_cache, "test": champion.metrics.get("test")},
        "signals": {"ctr": "clicks / impressions in the first 10 positions, per request (drop = drift)",
                    "loss": "mean per-impression log loss, p = score_to_probability(score) x the slot's "
                            "examination (rise = drift)",
                    "new_items": "share of the request's candidates the learner's CatalogMix calls new (rise)"},
        "streams": "RecsStream(seed 7, start shifted per evaluation seed, kinds=(drift kind,)): drift 0 → 1 "
                   "at `pre` (abrupt) or ramped linearly over `width` requests (gradual)",
    }
    return DriftEvalTraces(
        traces=traces, watches=default_watches(), unit=UNIT, max_delay=config.max_delay, cooldown=config.cooldown,
        targets=targets, config=description, signal_seconds=time.monotonic() - started,
        cache=None if cache is None else {"directory": str(cache.directory), "loaded": cache.hits,
                                          "generated": cache.misses})
