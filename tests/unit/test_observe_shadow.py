"""Champion vs challengers in the live view: comparisons read from the learner's own shadow records, the
board's before-drift baselines and leads, the sparkline, the panel and the summary."""

from __future__ import annotations

import io

import orjson
from rich.console import Console

from engine.observe.learn_scrape import LearnerSnapshot
from engine.observe.live_view import LiveState, render
from engine.observe.shadow_board import CHAMPION, Comparison, ModelStanding, ShadowBoard, comparison_from_shadow
from engine.observe.shadow_panel import render_shadow, sparkline, summary_table, win_lines
from models.fraud.generator import FraudGenerator
from models.fraud.learning.devtools import RecordFeed, label_values, memory_core, score_record

NOW = 1_800_000_000_000


def _text(renderable) -> str:
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _comparison(at: float, champion_loss: float, challenger_loss: float, labels: int = 2000) -> Comparison:
    def standing(loss: float, auc: float) -> ModelStanding:
        return ModelStanding(roc_auc=auc, log_loss=loss, accuracy=0.98, labels=labels, positives=30)
    return Comparison(at, "fraud v1", {CHAMPION: standing(champion_loss, 0.93),
                                       "river_logreg": standing(challenger_loss, 0.88)})


def test_comparisons_are_read_from_the_records_the_learner_publishes() -> None:
    core, _, shadow = memory_core(NOW, sampling={"feature_rate": 1.0, "join_rate": 1.0},
                                  feature_drift={"enabled": False}, prediction_drift={"enabled": False},
                                  concept_drift={"enabled": False},
                                  shadow={"models": [{"name": "river_logreg", "kind": "logistic_regression"}],
                                          "window": 500, "compare_every": 300, "min_labels": 100,
                                          "metric": "log_loss"})
    events, labels = FraudGenerator(seed=3).batch(1500)
    feed = RecordFeed()
    core.on_inputs("tx", feed.records("tx", events, orjson.dumps))
    core.on_outputs("scores", feed.records("scores", events, lambda e: score_record(e, 0, "tx")))
    label_records = feed.records("labels", events, label_values(events, labels, NOW))
    for start in range(0, len(label_records), 300):  # one comparison at most per batch of labels
        core.on_labels("labels", label_records[start:start + 300])

    parsed = [comparison_from_shadow(value, float(i)) for i, (_, value) in enumerate(shadow)]
    comparisons = [c for c in parsed if c is not None]
    assert len(comparisons) == core.shadow.comparisons >= 2       # the others carry scores only
    last = comparisons[-1]
    assert list(last.models) == [CHAMPION, "river_logreg"] and last.champion == "fraud v1"
    champion = core.shadow.champion.snapshot()
    assert (last.models[CHAMPION].labels, last.models[CHAMPION].positives) == (champion["n"], champion["positives"])
    assert last.models["river_logreg"].log_loss == core.shadow.models[0].metrics.log_loss()


def test_records_without_a_readable_comparison_are_skipped() -> None:
    assert comparison_from_shadow(None, 0.0) is None
    assert comparison_from_shadow(b'{"event_id": "e", "challengers": []}', 0.0) is None
    assert comparison_from_shadow(b'{"comparison": ', 0.0) is None
    assert comparison_from_shadow(b'{"comparison": {"champion": 1}}', 0.0) is None


def test_baselines_average_full_windows_before_the_drift_and_leads_follow_the_metric() -> None:
    board = ShadowBoard("log_loss", 0.015)
    board.add(_comparison(0.0, 0.50, 0.90, labels=300))   # window still filling: not a baseline
    board.add(_comparison(1.0, 0.030, 0.032))
    board.add(_comparison(2.0, 0.034, 0.032))
    board.drift_at = 2.5
    board.add(_comparison(3.0, 0.080, 0.050))
    board.add(None)
    board.add(_comparison(4.0, 0.090, 0.085))
    assert [c.at for c in board.before_drift] == [0.0, 1.0, 2.0]
    assert abs(board.baseline(CHAMPION, "log_loss") - 0.032) < 1e-12
    assert abs(board.lead(board.latest, "river_logreg") - 0.005) < 1e-12        # lower log loss: a lead
    assert abs(board.baseline_lead("river_logreg") - 0.0) < 1e-12
    assert abs(board.best_lead_after_drift("river_logreg") - 0.030) < 1e-12
    assert board.lead(board.latest, "nobody") is None
    auc = ShadowBoard("roc_auc", 0.02)
    auc.add(_comparison(0.0, 0.03, 0.03))
    assert abs(auc.lead(auc.latest, "river_logreg") - (0.88 - 0.93)) < 1e-12  # higher AUC: a lead


def test_only_challenger_wins_alerts_count_as_wins() -> None:
    board = ShadowBoard()
    board.add_alert({"kind": "concept_drift", "subject": "fraud:log_loss", "evidence": {"summary": "x"}})
    board.add_alert({"kind": "challenger_wins", "subject": "river_logreg", "evidence": {"summary": "won"}})
    assert board.wins == {"river_logreg": "won"}
    assert win_lines(board) == ["challenger_wins fired: won"]
    assert win_lines(ShadowBoard()) == ["challenger_wins did not fire"]


def test_sparkline_scales_values_and_marks_the_drift() -> None:
    series = [(0.0, 0.0), (1.0, 0.5), (2.0, 1.0), (3.0, 1.0)]
    assert sparkline(series, 0.0, 3.0, 4, 0.0, 1.0) == "▁▅██"                 # slots end at 0.75, 1.5, 2.25, 3
    assert sparkline(series, 0.0, 3.0, 4, 0.0, 1.0, mark=1.4) == "▁▅│██"
    assert sparkline(series, 0.0, 3.0, 4, 0.0, 1.0, mark=9.0) == "▁▅██"        # outside the range: no mark
    assert sparkline([(2.0, 0.5)], 0.0, 4.0, 4, 0.0, 1.0) == " ▅▅▅"           # nothing yet: blank


def test_panel_and_summary_show_every_model_and_the_win() -> None:
    board = ShadowBoard("log_loss", 0.015)
    assert "waiting" in render_shadow(board)
    for at, champion, challenger in [(0.0, 0.03, 0.033), (1.0, 0.031, 0.032), (3.0, 0.08, 0.05), (4.0, 0.07, 0.06)]:
        board.add(_comparison(at, champion, challenger))
    board.drift_at = 2.0
    board.add_alert({"kind": "challenger_wins", "subject": "river_logreg", "evidence": {"summary": "won"}})
    state = LiveState(shadow=board, learner=LearnerSnapshot(at=0.0, records={"labels": 1234.0}, joined=1200.0))
    panel = _text(render(state))
    assert "champion fraud v1" in panel and "river_logreg" in panel and "★" in panel
    assert "1,234 labels read" in panel and "+0.0100" in panel                 # the lead now
    summary = _text(summary_table(board))
    assert "0.0305 → 0.0700" in summary                                        # champion log loss before → end
    assert "-0.0020 → +0.0300 → +0.0100" in summary                            # lead before → best → end
