"""The drift-eval protocol through the real broker, small: alerts come back and agree with the direct run."""

from __future__ import annotations

import dataclasses

from engine.drift_eval.protocol import EvalConfig, run_protocol
from engine.learn.settings import DetectorSpec


def test_protocol_through_kafka_matches_the_direct_river_run(kafka_bootstrap):
    detectors = [DetectorSpec(kind="HDDM_A", direction="increase"),
                 DetectorSpec(kind="ADWIN", params={"delta": 1e-4}, direction="increase")]
    config = dataclasses.replace(EvalConfig.quick(detectors, workers=1), seeds=1, segment=4000, null_length=8000,
                                 generators=("sea",))
    lines: list[str] = []
    outcome = run_protocol(config, kafka_bootstrap, say=lines.append)
    summary = outcome.summary
    assert summary["kafka"]["signal_records"] == 2 * 4 * 4000 + 8000   # 2 drifting streams of 4 concepts + null
    assert summary["kafka"]["alerts_read_back"] == summary["kafka"]["alerts_published"] > 0
    assert summary["kafka_matches_river"] is True
    assert summary["detection_rate"] is not None and summary["by_detector"]["hddm_a()"]["abrupt"]["drifts"] == 3
    assert {s["kind"] for s in summary["per_stream"]} == {"abrupt", "gradual", "null"}
