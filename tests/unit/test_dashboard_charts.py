"""Bake windows as bars against their limit; DORA series with gaps."""

from __future__ import annotations

from shared.config import Thresholds
from shared.dashboard.charts import HEIGHT, bars, limit_of, metric_chart


def test_a_rate_metric_is_drawn_against_its_threshold() -> None:
    check = {
        "name": "function_error_rate",
        "evidence": {
            "windows": [
                {"start": "2026-11-28T19:00:00+00:00", "status": "ok", "value": 0.01},
                {"start": "2026-11-28T19:01:00+00:00", "status": "breach", "value": 1.0},
                {"start": "2026-11-28T19:02:00+00:00", "status": "inconclusive", "value": None},
            ]
        },
    }
    chart = metric_chart(check, Thresholds())
    ok, breach, gap = chart.bars
    assert (ok.kind, breach.kind, gap.kind) == ("ok", "breach", "inconclusive")
    assert breach.h > ok.h > 0 and gap.h == 0 and "no data" in gap.title
    assert chart.limit_y is not None and 0 < chart.limit_y < HEIGHT
    assert chart.limit_label == "limit 5.00%" and chart.span == "19:00:00 to 19:02:00"


def test_limits_exist_only_where_one_number_is_the_limit() -> None:
    t = Thresholds()
    assert limit_of("api_p95_latency", {"baseline": {"value": 200}}, t) == 300
    assert limit_of("api_p95_latency", {}, t) is None  # no baseline measured
    assert limit_of("panic_activations", {"baseline": {"value": 2}}, t) is None


def test_an_empty_series_draws_nothing() -> None:
    chart = bars("deployments", [])
    assert chart.bars == [] and chart.limit_y is None and chart.span == ""
