"""Property-based fuzz across the wire: ≥ 1,000 malformed records interleaved with good ones.

Every malformed record lands in the dead-letter topic, byte-for-byte, with its key and the reason
it was built to trigger; every good record is scored exactly once; the worker never stops.
"""

from __future__ import annotations

import itertools

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.fraud.generator import FraudGenerator
from tests.integration.harness import alerts_of, assert_exactly_once_in_order

MAX_BYTES = 4096  # the test pipeline's size limit, so "too large" stays cheap
BASE_EVENTS, _ = FraudGenerator(seed=99).batch(64)
REQUIRED = sorted(BASE_EVENTS[0])
NUMERIC = [k for k, v in BASE_EVENTS[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
           and k != "schema_version"]

base = st.sampled_from(BASE_EVENTS)
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)


def _missing(event):
    return st.sampled_from(REQUIRED).map(lambda k: ("schema_violation", orjson.dumps({x: v for x, v in event.items() if x != k})))


def _wrong_type(event):
    return st.tuples(st.sampled_from(NUMERIC), st.text(max_size=10) | st.lists(st.integers(), max_size=2) | st.just(None)).map(
        lambda kv: ("schema_violation", orjson.dumps({**event, kv[0]: kv[1]})))


def _extra_field(event):
    return st.text(min_size=1, max_size=12).filter(lambda k: k not in event).map(
        lambda k: ("schema_violation", orjson.dumps({**event, k: 1})))


def _bad_version(event):
    return st.integers(min_value=2, max_value=10_000).map(
        lambda v: ("unknown_schema_version", orjson.dumps({**event, "schema_version": v})))


def _non_finite(event):
    return st.sampled_from(NUMERIC).flatmap(lambda k: st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400"]).map(
        lambda token: ("non_finite_number", orjson.dumps(event).replace(
            b'"' + k.encode() + b'":', b'"' + k.encode() + b'":' + token + b',"_":', 1))))


malformed = st.one_of(
    st.just(("empty_value", b"")),
    st.binary(min_size=1, max_size=64).map(lambda b: ("invalid_utf8", b'{"a":"' + b"\xff" + b + b'"}')),
    st.text(alphabet="abcxyz=;: ", min_size=1, max_size=40).map(lambda t: ("not_json", t.encode())),
    st.lists(json_scalars, max_size=4).map(lambda v: ("not_an_object", orjson.dumps(v))),
    json_scalars.map(lambda v: ("not_an_object", orjson.dumps(v))),
    st.integers(min_value=40, max_value=900).map(lambda d: ("nesting_too_deep", b"[" * d + b"]" * d)),
    st.integers(min_value=MAX_BYTES + 1, max_value=3 * MAX_BYTES).map(
        lambda n: ("too_large", b'{"pad":"' + b"x" * n + b'"}')),
    base.flatmap(_missing), base.flatmap(_wrong_type), base.flatmap(_extra_field),
    base.flatmap(_bad_version), base.flatmap(_non_finite),
)


_EXAMPLES = itertools.count()


# Two fresh examples per run, never the same ones (the CI profile derandomizes everything else):
# each run covers new inputs, and a failure prints the blob that reproduces it.
@settings(max_examples=2, phases=[Phase.generate], deadline=None, derandomize=False, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                                 HealthCheck.function_scoped_fixture])
@given(bad=st.lists(malformed, min_size=1000, max_size=1100), data=st.data())
def test_every_bad_record_is_dead_lettered_with_its_reason(pipeline, bad, data) -> None:
    p = pipeline(f"fuzz{next(_EXAMPLES)}", limits={"max_message_bytes": MAX_BYTES},
                 alerts={"window_s": 1.0, "min_events": 100, "max_dead_letter_ratio": 0.05})
    watch = p.watch()
    good, _ = FraudGenerator(seed=31).batch(2000)
    # Interleave: every record gets a distinct key so the DLQ record can be matched to its input.
    slots = data.draw(st.lists(st.integers(0, len(good)), min_size=len(bad), max_size=len(bad)))
    by_slot: dict[int, list[int]] = {}
    for index, slot in enumerate(slots):
        by_slot.setdefault(slot, []).append(index)
    producer = p.producer()
    for position in range(len(good) + 1):
        for index in by_slot.get(position, []):
            producer.produce(p.input, bad[index][1], f"bad-{index}".encode(), headers=[("origin", b"fuzz")])
        if position < len(good):
            event = good[position]
            producer.produce(p.input, orjson.dumps(event), event["card_id"].encode())
        producer.poll(0)
    producer.flush(30)

    worker = p.start_worker("0")
    watch.scores.wait_for(len(good), timeout_s=180)
    watch.dead.wait_for(len(bad), timeout_s=60)
    assert worker.running(), "a malformed record must never stop the worker\n" + p.logs()
    assert p.stop(worker) == 0, p.logs()
    scores = p.settle_and_check(watch, len(good) + len(bad))  # every input offset answered once, in order
    dead = watch.dead.records()

    assert_exactly_once_in_order(good, scores)
    assert len(dead) == len(bad), f"{len(dead)} dead letters for {len(bad)} malformed records"
    indices = [int(record.key.decode().removeprefix("bad-")) for record in dead]
    assert sorted(indices) == list(range(len(bad))), "each malformed record dead-lettered exactly once"
    for record in dead:
        index = int(record.key.decode().removeprefix("bad-"))
        reason, payload = bad[index]
        assert record.value == payload or (payload == b"" and not record.value), "DLQ value must be the original bytes"
        assert record.headers["streaminfer.dlq.reason"] == reason, (index, payload[:80], record.headers)
        assert record.headers["origin"] == "fuzz", "original headers are kept"
        assert record.headers["streaminfer.dlq.topic"] == p.input
        assert record.headers["streaminfer.dlq.message"]
        assert record.headers["streaminfer.dlq.worker"] == "0"
    # A third of the input is garbage: on-call hears about it once, with the reasons.
    alerts = alerts_of(p.read(p.alerts, expected=1, timeout_s=10, quiet_s=1.0))
    error_rate = [a for a in alerts if a["kind"] == "error_rate"]
    assert len(error_rate) == 1, alerts
    assert "dead-lettered" in error_rate[0]["evidence"]["summary"]
