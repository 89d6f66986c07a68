"""The shadow rankers' comparison rule and the coverage of a challenger's list by the champion's impressions."""

from __future__ import annotations

import numpy as np
import pytest

from engine.learn.ranking.settings import RankingShadowSettings
from engine.learn.ranking.shadow import RollingMean, ShadowRankers


def _shadow(**settings):
    return ShadowRankers(RankingShadowSettings(**{"min_requests": 100, "min_clicks": 20, **settings}), k=3, window=200)


def _fill(shadow, champion, challenger, requests=150, clicks_per_request=1.0):
    for _ in range(requests):
        shadow.champion.ips_ctr.update(champion)
        shadow.champion.coverage.update(1.0)
        shadow.clicks.update(clicks_per_request)
        for standing in shadow.standings.values():
            standing.ips_ctr.update(challenger)
            standing.coverage.update(0.5)


@pytest.mark.parametrize(("challenger", "wins"), [(1.06, True), (1.04, False), (0.5, False)])
def test_a_challenger_wins_only_by_the_relative_margin(challenger, wins):
    shadow = _shadow(margin=0.05)
    _fill(shadow, 1.0, challenger)
    snapshot, verdicts = shadow.compare()
    assert bool(verdicts) is wins
    if wins:
        assert {v.challenger for v in verdicts} == {"river_fm", "river_mf"}
        evidence = verdicts[0].evidence()
        assert evidence["statistic"] == pytest.approx(challenger - 1.0) and evidence["window"]["requests"] == 150
    assert snapshot["requests"] == 150 and snapshot["champion"]["ips_ctr@3"] == pytest.approx(1.0)


def test_no_verdict_before_the_minimum_requests_and_clicks():
    shadow = _shadow()
    _fill(shadow, 1.0, 3.0, requests=50)
    assert shadow.compare()[1] == []
    shadow = _shadow()
    _fill(shadow, 1.0, 3.0, requests=150, clicks_per_request=0.1)  # 15 clicks < 20
    assert shadow.compare()[1] == []


def test_the_adjusted_metric_divides_by_coverage():
    shadow = _shadow(metric="ips_ctr_adj", margin=0.05)
    _fill(shadow, 1.0, 0.6)  # lower bound 0.6, half the list unshown: adjusted 1.2
    snapshot, verdicts = shadow.compare()
    assert snapshot["challengers"]["river_fm"]["ips_ctr_adj@3"] == pytest.approx(1.2)
    assert verdicts and verdicts[0].metric == "ips_ctr_adj@3"


def test_coverage_weighs_the_shown_items_by_their_slot():
    shadow = _shadow()
    shadow.theta = np.array([1.0, 0.5, 0.25] + [0.25] * 47)
    assert shadow._coverage(["a", "b", "c"], {"a": 1, "b": 2, "c": 3}) == pytest.approx(1.0)
    assert shadow._coverage(["x", "b", "c"], {"a": 1, "b": 2, "c": 3}) == pytest.approx(0.75 / 1.75)
    assert shadow._coverage(["x", "y", "z"], {"a": 1}) == 0.0


def test_rolling_mean_forgets_the_oldest_and_skips_none():
    mean = RollingMean(3)
    for value in (1, None, 2, 3, 4):
        mean.update(value)
    assert mean.n == 3 and mean.mean == pytest.approx(3.0) and mean.total == pytest.approx(9.0)
