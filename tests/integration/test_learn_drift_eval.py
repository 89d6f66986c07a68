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


def test_recs_protocol_through_kafka_matches_the_direct_run(kafka_bootstrap):
    # The recs plugin's traces (champion from the model build cache, trained once if missing), bounded: one
    # seed, 3k-request drifting streams, through the real broker and back.
    from engine.drift_eval.trace_protocol import run_trace_protocol
    from models.recs.drift_eval import RecsEvalConfig, drift_eval_traces

    config = RecsEvalConfig(seeds=(1,), pre=2048, post=1024, width=512, null_length=3072, max_delay=25_000,
                            cooldown=25_000, workers=1)
    lines: list[str] = []
    evaluation = drift_eval_traces(quick=True, workers=1, say=lines.append, config=config)
    outcome = run_trace_protocol(evaluation, kafka_bootstrap, say=lines.append)
    summary = outcome.summary
    assert summary["kafka"]["signal_records"] == 6 * 3072 + 3072      # one record per request
    assert summary["kafka"]["alerts_read_back"] == summary["kafka"]["alerts_published"] > 0
    assert summary["kafka_matches_river"] is True
    assert summary["units"]["delay"] == "impressions" and "false_alarms_per_1m_impressions" in summary
    ctr = next(name for name in summary["by_detector"] if name.startswith("ctr:"))
    assert summary["by_drift_kind"][ctr]["taste"]["abrupt"]["detected"] == 1   # the taste shift is seen
    assert {s["kind"] for s in summary["per_stream"]} == {"abrupt", "gradual", "null"}
    assert set(summary["targets"]) == {"detection_rate", "mean_delay", "false_alarms_per_1m_impressions"}
