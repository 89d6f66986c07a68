"""The recs turn of the demo without Kafka: the ranking learner's overrides, its scrape, the live panel and
the summary before/after the drift, the plugin's traffic."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from engine.demo.learner import DemoLearner, DemoRankingLearnSettings
from engine.demo.ranking import supports_learning_demo
from engine.learn.settings import load_learn_settings
from engine.learn.telemetry import LearnMetrics
from engine.observe.learn_scrape import LearnerSnapshot, parse_learner
from engine.observe.live_view import LiveState, render
from engine.observe.ranking_panel import CHAMPION, PAIRED, RankingBoard, render_ranking, summary


def _exposition(ctr: float, ndcg: float, window: int, ips: tuple[float, float, float], judged: int,
                new_items: float = 0.01, alerts: tuple[str, ...] = ()) -> str:
    """What a ranking learner's /metrics says (its own LearnMetrics, so names cannot drift apart)."""
    metrics = LearnMetrics("recs", CollectorRegistry())
    metrics.records("labels", judged * 10)
    metrics.joined("ranked_first", judged - 4)
    metrics.joined("feedback_first", 1)
    metrics.joined("partial", 3)
    metrics.set_lag("recs.ranked", 0, 2)
    metrics.set_lag("recs.feedback", 3, 5)
    metrics.set_model_figures(CHAMPION, judged, {"ctr@10": ctr, "ndcg@10": ndcg, "hr@10": 0.4, "mrr": 0.2,
                                                 "requests": window, "impressions": window * 10, "roc_auc": 0.7,
                                                 "log_loss": 0.21})
    paired = min(window, 300)
    for model, value, overlap in zip((PAIRED, "river_fm", "river_mf"), ips, (1.0, 0.2, 0.3)):
        metrics.set_model_figures(model, paired, {"ips_ctr@10": value, "ips_dcg@10": value * 2, "overlap@10": overlap,
                                                  "rank_corr": overlap, "log_loss": 0.25, "requests": paired,
                                                  "roc_auc": None})
    metrics.set_catalog({"coverage": 0.4, "new_item_share": new_items, "gini": 0.55, "item_mix_divergence": None})
    for kind in alerts:
        metrics.alert(kind, True)
    metrics.alert("feature_drift", False)  # suppressed by the gate: not counted as published
    return generate_latest(metrics.registry).decode()


def _snap(at: float, **figures) -> LearnerSnapshot:
    return parse_learner(_exposition(**figures), at)


def _board() -> RankingBoard:
    """30 s filling towards a full window at CTR ~0.06, the knob at 30 s, then 30 s at 0.03."""
    board = RankingBoard(pipeline="recs", k=10, drift_to=1.0)
    for t in range(30):
        board.add(_snap(float(t), ctr=0.06 if t >= 14 else 0.09, ndcg=0.2, window=min(1500, 100 * t + 100),
                        ips=(0.5, 0.3, 0.35), judged=100 * t + 100))
    board.drift_at = 30.0
    for t in range(30, 60):
        board.add(_snap(float(t), ctr=0.03, ndcg=0.1, window=1500, ips=(0.3, 0.32, 0.36), judged=100 * t + 100,
                        new_items=0.1))
    board.traffic = {"requests": 12_000, "ranked": 11_990, "impressions": 119_900, "clicks": 6_000, "feedback": 119_900}
    return board


def _text(renderable, width: int = 200) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_a_ranking_learners_exposition_is_read_into_figures_per_model() -> None:
    snap = _snap(5.0, ctr=0.061, ndcg=0.18, window=1500, ips=(0.5, 0.3, 0.35), judged=2000,
                 alerts=("concept_drift", "concept_drift", "challenger_wins"))
    assert snap.joined == 2000 and snap.joined_by == {"ranked_first": 1996, "feedback_first": 1, "partial": 3}
    assert snap.records == {"labels": 20_000} and snap.lag == {"recs.ranked": 2, "recs.feedback": 5}
    assert snap.metric(CHAMPION, "ctr@10") == pytest.approx(0.061) and snap.metric(CHAMPION, "requests") == 1500
    assert snap.metric("river_mf", "ips_ctr@10") == pytest.approx(0.35)
    assert snap.metric("river_fm", "overlap@10") == pytest.approx(0.2)
    assert snap.metric("river_fm", "roc_auc") is None and snap.metric("nobody", "ctr@10") is None  # never exported
    assert snap.samples == {CHAMPION: 2000, PAIRED: 300, "river_fm": 300, "river_mf": 300}
    assert snap.catalog == {"coverage": 0.4, "new_item_share": 0.01, "gini": 0.55}
    assert snap.alerts == {"concept_drift": 2, "challenger_wins": 1}  # published only


def test_the_board_compares_the_full_windows_before_the_drift_with_the_end() -> None:
    board = _board()
    # Before: only the scrapes whose window was full (t 14..29, all at CTR 0.06), not the warm-up at 0.09.
    assert board.before(CHAMPION, "ctr") == pytest.approx(0.06)
    assert board.value(CHAMPION, "ctr") == pytest.approx(0.03)
    assert board.before("river_mf", "ips_ctr") == pytest.approx(0.35) and board.challengers() == ["river_fm", "river_mf"]
    assert board.catalog_before("new_item_share") == pytest.approx(0.01) and board.catalog("new_item_share") == 0.1
    assert board.lead("river_mf") == pytest.approx(0.36 / 0.3 - 1)
    assert board.series(CHAMPION, "ctr")[-1] == (59.0, pytest.approx(0.03))
    assert RankingBoard().before(CHAMPION, "ctr") is None  # no drift yet: nothing is "before"


def test_only_the_pipelines_alerts_are_kept_and_timed_against_the_knob() -> None:
    board = _board()
    assert board.add_alert({"pipeline": "fraud", "kind": "concept_drift"}, 40.0) is None
    landed = board.add_alert({"pipeline": "recs", "kind": "concept_drift", "severity": "warning",
                              "subject": "recs:ctr@10", "evidence": {"summary": "ctr fell", "stage": "detected"}}, 41.5)
    assert landed.stage == "detected" and board.since_drift(landed.at) == pytest.approx(11.5)
    assert [a.kind for a in board.alerts] == ["concept_drift"]


def test_the_live_panel_shows_champion_challengers_catalog_and_alerts() -> None:
    board = _board()
    board.add_alert({"pipeline": "recs", "kind": "concept_drift", "severity": "critical", "subject": "recs:ctr@10",
                     "evidence": {"summary": "CTR@10 fell from 0.060 to 0.030", "stage": "confirmed"}}, 45.0)
    board.add_alert({"pipeline": "recs", "kind": "challenger_wins", "severity": "info", "subject": "river_mf",
                     "evidence": {"summary": "river_mf ips_ctr@10 0.36 vs 0.30"}}, 50.0)
    text = _text(render_ranking(board, now=61.0))
    assert "6,000 lists judged (5,997 complete, 3 partial)" in text and "60,000 feedback records read" in text
    assert "12,000 requests sent" in text and "(5.0%)" in text and "drift knob → 1, 31s ago" in text
    assert "CTR@10 0.030 -0.030" in text and "NDCG@10 0.100 -0.100" in text and "last 1,500 judged lists" in text
    assert "│" in text  # the drift mark in the CTR trend
    assert "ips_ctr@10" in text and "overlap@10" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.strip().startswith(("champion ", "river_"))}
    assert "0.300 -0.200" in rows["champion"] and "+20.0% ★" in rows["river_mf"] and "+6.7%" in rows["river_fm"]
    assert "★" not in rows["river_fm"]
    assert "coverage 0.400" in text and "new-item share 0.100 +0.090" in text
    assert "+15.0s concept_drift (critical) recs:ctr@10: CTR@10 fell" in text
    assert "+20.0s challenger_wins (info) river_mf" in text


def test_the_live_view_carries_the_ranking_panel_and_waits_politely() -> None:
    state = LiveState()
    state.ranking = RankingBoard()
    text = _text(render(state, "streaminfer serve + learn — recs"))
    assert "learner  waiting for its /metrics" in text and "waiting for the first judged lists" in text
    assert "waiting for the first re-ranked lists" in text and "alerts: none yet for recs" in text


def test_the_summary_gives_before_and_after_and_every_alert_kind() -> None:
    board = _board()
    for at, kind, stage in ((28.0, "prediction_drift", ""), (38.0, "concept_drift", "detected"),
                            (39.0, "concept_drift", "detected"), (47.0, "concept_drift", "confirmed")):
        board.add_alert({"pipeline": "recs", "kind": kind, "severity": "warning", "subject": "recs:ctr@10",
                         "evidence": {"summary": kind, "stage": stage}}, at)
    text = "".join(_text(part, width=80) for part in summary(board))
    assert "champion CTR@10" in text and "0.060 → 0.030 -0.030 (-50%)" in text
    assert "river_mf ips_ctr@10" in text and "0.350 → 0.360" in text and "…" not in text  # fits 80 columns
    assert "catalog new item share" in text and "0.010 → 0.100" in text
    assert "alerts for recs: 4 (prediction_drift 1, concept_drift 3)" in text
    assert "-2.0s prediction_drift" in text and "+8.0s concept_drift" in text and "+17.0s concept_drift" in text
    assert "+9.0s" not in text  # a repeat of the same kind, stage and subject is counted, not listed
    assert "challenger_wins did not fire" in text
    assert summary(RankingBoard()) == ["ranking learner: it never answered on /metrics"]


def test_the_demo_ranking_overrides_reach_the_recs_learn_settings(monkeypatch) -> None:
    production = load_learn_settings("recs")
    overrides = DemoRankingLearnSettings.for_rate(200.0)
    for name, value in overrides.environment("streaminfer-demo-learn-0123abcd").items():
        monkeypatch.setenv(name, value)
    settings = load_learn_settings("recs")
    assert settings.app_id == "streaminfer-demo-learn-0123abcd" and settings.state.enabled is False
    assert (settings.sampling.join_rate, settings.sampling.feature_rate, settings.shadow.sample_rate) == \
        (overrides.join_rate, overrides.feature_rate, overrides.shadow_rate)
    assert settings.ranking.window == overrides.window and settings.join.sweep_interval_s == overrides.sweep_interval_s
    assert (settings.shadow.compare_every, settings.shadow.min_requests, settings.shadow.min_clicks,
            settings.shadow.metric, settings.shadow.margin) == (overrides.compare_every, overrides.min_requests,
                                                                overrides.min_clicks, overrides.metric, overrides.margin)
    # The shipped challengers, detectors and topics stay as configured.
    assert settings.shadow.models == production.shadow.models and settings.concept_drift == production.concept_drift
    assert settings.topics == production.topics and settings.ranking.k == production.ranking.k


@pytest.mark.parametrize(("rate", "join", "shadow"), [(200.0, 0.5, 0.15), (50.0, 1.0, 0.3), (1000.0, 0.1, 0.15),
                                                     (10.0, 1.0, 1.0)])
def test_the_demo_samples_about_the_same_lists_a_second_at_any_rate(rate: float, join: float, shadow: float) -> None:
    overrides = DemoRankingLearnSettings.for_rate(rate)
    assert (overrides.join_rate, overrides.shadow_rate) == pytest.approx((join, shadow))
    assert rate * overrides.join_rate * overrides.shadow_rate <= 15.0 + 1e-9  # challenger lists/s stay cheap


def test_the_launcher_starts_the_learner_of_the_pipeline_it_is_given(monkeypatch, tmp_path) -> None:
    calls = []

    class FakePopen:
        def __init__(self, args, env, **_kwargs) -> None:
            calls.append((args, env))

        def poll(self) -> int | None:
            return 0

    learner = DemoLearner("127.0.0.1:1", tmp_path / "learn.log", DemoRankingLearnSettings(), pipeline="recs")
    monkeypatch.setattr(learner, "_remove_leftovers", lambda: None)
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    learner.start()
    args, env = calls[0]
    assert args[args.index("--pipeline") + 1] == "recs" and args[args.index("--metrics-port") + 1] == str(learner.port)
    assert env["STREAMINFER_LEARN__APP_ID"] == learner.app_id and env["STREAMINFER_LEARN__RANKING__WINDOW"] == "1500"
    assert learner.returncode == 0
    assert DemoLearner("127.0.0.1:1", None).pipeline == "fraud"  # fraud's demo keeps its default


def test_the_recs_plugin_supplies_demo_traffic_on_the_champions_world_with_run_ids() -> None:
    from models.recs.feedback_sim import FeedbackSimulator, RequestSource
    from models.recs.pipeline import RecsPipeline

    plugin = RecsPipeline()
    assert supports_learning_demo(plugin)
    traffic = plugin.demo_traffic("127.0.0.1:1", ("t.requests", "t.ranked", "t.feedback"), count=400, rate=200.0,
                                  run_id="ab12cd34", drift_to=1.0, drift_at=0.5)
    assert isinstance(traffic, FeedbackSimulator) and traffic.report.requests == 0
    o = traffic.options
    assert (o.seed, o.count, o.rate, o.drift_to, o.drift_at) == (7, 400, 200.0, 1.0, 0.5)
    assert (o.requests_topic, o.ranked_topic, o.feedback_topic) == ("t.requests", "t.ranked", "t.feedback")
    assert o.click_window_s <= 10 and o.deadline_s is not None
    source = RequestSource(o)
    first, drift = source.next_chunk(200)
    assert drift == 0.0 and all(r["request_id"].startswith("demo-ab12cd34-r-7-") for r in first)
    second, drift = source.next_chunk(200)
    assert drift == 1.0 and len({r["request_id"] for r in first + second}) == 400


def test_pipelines_without_a_ranking_learner_run_the_plain_hot_path() -> None:
    class PerEvent:
        learning = type("Learning", (), {"kind": "per_event"})()

        def demo_traffic(self) -> None:
            """Present, but the learner is not a ranking one."""

    assert not supports_learning_demo(PerEvent()) and not supports_learning_demo(object())


def test_alerts_before_the_knob_are_timed_from_the_start_of_the_traffic() -> None:
    from engine.observe.ranking_panel import alert_line

    board = RankingBoard(started_at=100.0)
    landed = board.add_alert({"pipeline": "recs", "kind": "slo_breach", "severity": "warning",
                              "subject": "p99_latency", "evidence": {"summary": "p99 369 ms > 250 ms"}}, 112.5)
    assert "@ 12.5s slo_breach (warning) p99_latency: p99 369 ms" in _text(alert_line(board, landed))
    assert "time since the users started" in _text(render_ranking(board))
    board.drift_at = 130.0
    assert "-17.5s slo_breach" in _text(alert_line(board, landed))
