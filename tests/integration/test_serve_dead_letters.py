"""Fuzz across the wire: ≥ 1,000 malformed records of 12 families (recs: 5 more of its own)
interleaved with good ones, for every shipped pipeline.

Every malformed record lands in the dead-letter topic, byte-for-byte, with its key and the reason
it was built to trigger; every good record is answered exactly once; the worker never stops.
"""

from __future__ import annotations

import os
import random

import orjson
import pytest

from tests.integration.harness import alerts_of, assert_exactly_once_in_order
from tests.integration.use_cases import USE_CASES

MAX_BYTES = 4096  # the test pipeline's size limit, so "too large" stays cheap
MAX_CANDIDATES = 40  # recs' plugin_options here: a longer request is limit_exceeded
OPTIONAL = {"k"}  # fields an input schema does not require: dropping them is valid
BASE = {name: case.events(64, seed=99) for name, case in USE_CASES.items()}
for _events in BASE["recs"]:
    _events["candidates"] = _events["candidates"][:MAX_CANDIDATES]
REQUIRED = {name: sorted(set(events[0]) - OPTIONAL) for name, events in BASE.items()}
NUMERIC = {name: [k for k, v in events[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                  and k != "schema_version"] for name, events in BASE.items()}

# One generator per malformed family, each returning (the reason it must be dead-lettered with, the
# bytes). Plain seeded Python, not hypothesis: 1,000+ records overflow hypothesis' example buffer
# (559 invalid draws for 2 valid ones, 190 s), while the codec's own property tests (tests/unit,
# hypothesis, 1,300 examples) explore each family's corners. A new seed every run covers new inputs;
# STREAMINFER_FUZZ_SEED replays one.
def _scalar(rng: random.Random):
    return rng.choice([None, True, False, rng.randint(-2**63, 2**64 - 1), _text(rng, "ab€\n", 0, 20)])


def _text(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choices(alphabet, k=rng.randint(low, high)))


def _non_finite(rng: random.Random, event: dict) -> bytes:
    key = rng.choice(_numeric(event)).encode()
    token = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e400"])
    return orjson.dumps(event).replace(b'"' + key + b'":', b'"' + key + b'":' + token + b',"_":', 1)


def _nested(rng: random.Random, event: dict) -> bytes:
    # Inside a valid event: a bare deep array is ``not_an_object`` first (the decoder's order), and
    # past orjson's own 1,024 levels it is a parse error that is classified the same way.
    depth = rng.choice([rng.randint(33, 900), rng.randint(1025, 1500)])
    return orjson.dumps(event)[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}"


def _case(event: dict) -> str:
    return "recs" if "candidates" in event else "fraud"


def _numeric(event: dict) -> list[str]:
    # Only fields this event has: corrupting an optional field it lacks (recs' k) would corrupt nothing.
    return [k for k in NUMERIC[_case(event)] if k in event]


def _required(event: dict) -> list[str]:
    return REQUIRED[_case(event)]


def _without(event: dict, missing: str) -> bytes:
    return orjson.dumps({k: v for k, v in event.items() if k != missing})


def _wrong_type(rng: random.Random) -> object:
    return rng.choice([_text(rng, "xyz19", 0, 10), [rng.randint(-9, 9) for _ in range(rng.randint(0, 2))], None])


FAMILIES = [
    lambda rng, e: ("empty_value", b""),
    lambda rng, e: ("invalid_utf8", b'{"a":"' + b"\xff" + rng.randbytes(rng.randint(1, 64)) + b'"}'),
    lambda rng, e: ("not_json", _text(rng, "abcxyz=;: ", 1, 40).encode()),
    lambda rng, e: ("not_an_object", orjson.dumps([_scalar(rng) for _ in range(rng.randint(0, 4))])),
    lambda rng, e: ("not_an_object", orjson.dumps(_scalar(rng))),
    lambda rng, e: ("nesting_too_deep", _nested(rng, e)),
    lambda rng, e: ("too_large", b'{"pad":"' + b"x" * rng.randint(MAX_BYTES + 1, 3 * MAX_BYTES) + b'"}'),
    lambda rng, e: ("schema_violation", _without(e, rng.choice(_required(e)))),
    lambda rng, e: ("schema_violation", orjson.dumps({**e, rng.choice(_numeric(e)): _wrong_type(rng)})),
    lambda rng, e: ("schema_violation", orjson.dumps({**e, "x" + _text(rng, "abc_é", 0, 11): 1})),
    lambda rng, e: ("unknown_schema_version", orjson.dumps({**e, "schema_version": rng.randint(2, 10_000)})),
    lambda rng, e: ("non_finite_number", _non_finite(rng, e)),
]


def _ids(rng: random.Random, count: int) -> list[str]:
    return [f"i{rng.randrange(10**6)}-{n}" for n in range(count)]


# recs' own boundary: what its schema and plugin decide beyond the shared families.
RECS_FAMILIES = [
    lambda rng, e: ("schema_violation", orjson.dumps({**e, "candidates": []})),  # nothing to rank
    lambda rng, e: ("schema_violation", orjson.dumps({**e, "candidates": [*e["candidates"][:3], rng.randint(0, 9)]})),
    lambda rng, e: ("schema_violation", orjson.dumps({**e, "k": rng.choice([0, -1, 2.5, "3", None])})),
    lambda rng, e: ("limit_exceeded", orjson.dumps({**e, "candidates": _ids(rng, MAX_CANDIDATES + rng.randint(1, 60))})),
    lambda rng, e: ("schema_violation", orjson.dumps({k: v for k, v in e.items() if k != "user_id"})),
]


def malformed_records(rng: random.Random, count: int, use_case: str) -> list[tuple[str, bytes]]:
    """``count`` malformed records of ``use_case``'s events, every family represented."""
    families = FAMILIES + (RECS_FAMILIES if use_case == "recs" else [])
    picks = list(range(len(families))) + [rng.randrange(len(families)) for _ in range(count - len(families))]
    rng.shuffle(picks)
    return [families[i](rng, rng.choice(BASE[use_case])) for i in picks]


@pytest.mark.parametrize("use_case", ["fraud", "recs"])
def test_every_bad_record_is_dead_lettered_with_its_reason(pipeline, use_case) -> None:
    seed = int(os.environ.get("STREAMINFER_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
    print(f"fuzz seed {seed} (replay with STREAMINFER_FUZZ_SEED={seed})")
    rng = random.Random(seed)
    bad = malformed_records(rng, rng.randint(1000, 1100), use_case)
    options = {"plugin_options": {"max_candidates": MAX_CANDIDATES}} if use_case == "recs" else {}
    p = pipeline("fuzz", use_case=use_case, limits={"max_message_bytes": MAX_BYTES},
                 alerts={"window_s": 1.0, "min_events": 100, "max_dead_letter_ratio": 0.05}, **options)
    watch = p.watch()
    good = p.use_case.events(2000, seed=31)
    if use_case == "recs":  # good requests stay within the test's limits
        for event in good:
            event["candidates"] = event["candidates"][:MAX_CANDIDATES]
            if len(orjson.dumps(event)) > MAX_BYTES:
                event["candidates"] = event["candidates"][:20]
    # Interleave: every record gets a distinct key so the DLQ record can be matched to its input.
    slots = [rng.randint(0, len(good)) for _ in bad]
    by_slot: dict[int, list[int]] = {}
    for index, slot in enumerate(slots):
        by_slot.setdefault(slot, []).append(index)
    producer = p.producer()
    for position in range(len(good) + 1):
        for index in by_slot.get(position, []):
            producer.produce(p.input, bad[index][1], f"bad-{index}".encode(), headers=[("origin", b"fuzz")])
        if position < len(good):
            event = good[position]
            producer.produce(p.input, orjson.dumps(event), p.use_case.key(event))
        producer.poll(0)
    producer.flush(30)

    worker = p.start_worker("0")
    watch.scores.wait_for(len(good), timeout_s=180)
    watch.dead.wait_for(len(bad), timeout_s=60)
    assert worker.running(), "a malformed record must never stop the worker\n" + p.logs()
    assert p.stop(worker) == 0, p.logs()
    scores = p.settle_and_check(watch, len(good) + len(bad))  # every input offset answered once, in order
    dead = watch.dead.records()

    assert_exactly_once_in_order(good, scores, p.use_case.id_field)
    assert len(dead) == len(bad), f"{len(dead)} dead letters for {len(bad)} malformed records"
    indices = [int(record.key.decode().removeprefix("bad-")) for record in dead]
    assert sorted(indices) == list(range(len(bad))), "each malformed record dead-lettered exactly once"
    for record in dead:
        index = int(record.key.decode().removeprefix("bad-"))
        reason, payload = bad[index]
        assert record.value == payload or (payload == b"" and not record.value), "DLQ value must be the original bytes"
        assert record.headers["streaminfer.dlq.reason"] == reason, (seed, index, payload[:80], record.headers)
        assert record.headers["origin"] == "fuzz", "original headers are kept"
        assert record.headers["streaminfer.dlq.topic"] == p.input
        assert record.headers["streaminfer.dlq.message"]
        assert record.headers["streaminfer.dlq.worker"] == "0"
    # A third of the input is garbage: on-call hears about it once, with the reasons.
    alerts = alerts_of(p.read(p.alerts, expected=1, timeout_s=10, quiet_s=1.0))
    error_rate = [a for a in alerts if a["kind"] == "error_rate"]
    assert len(error_rate) == 1, alerts
    assert "dead-lettered" in error_rate[0]["evidence"]["summary"]
