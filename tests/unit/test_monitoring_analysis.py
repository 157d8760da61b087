"""Bake analysis, table-driven: per-metric limits, baselines, breach confirmation, traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.config import Thresholds
from shared.monitoring.analysis import analyse, baseline, read
from shared.monitoring.settings import MetricName, MonitoringSettings, StaticBaseline
from shared.monitoring.windows import Window

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=60)
S = MonitoringSettings(min_payments=20, min_sessions=100, min_baseline_windows=3)
T = Thresholds(min_requests=100, consecutive_breaches=3)
HEALTHY: dict[str, int] = {
    "function_invocations": 1000,
    "function_errors": 5,
    "payment_attempts": 100,
    "payment_failures": 0,
    "panic_activations": 1,
    "ai_tokens": 10_000,
    "sessions": 1000,
    "crashed_sessions": 1,
    "api_requests": 1000,
    "db_ops": 1000,
}


def win(i: int, api: float | None = 200.0, db: float | None = 20.0, **counters: int) -> Window:
    return Window(T0 + i * STEP, {**HEALTHY, **counters}, api_p95_ms=api, db_p95_ms=db, batches=1)


@pytest.mark.parametrize(
    ("metric", "window", "base", "status"),
    [
        ("function_error_rate", win(0, function_errors=49), None, "ok"),
        ("function_error_rate", win(0, function_errors=50), None, "breach"),  # 5% is not < 5%
        (
            "function_error_rate",
            win(0, function_invocations=99, function_errors=0),
            None,
            "inconclusive",
        ),
        ("payment_failure_rate", win(0, payment_failures=1), None, "ok"),
        ("payment_failure_rate", win(0, payment_failures=2), None, "breach"),
        (
            "payment_failure_rate",
            win(0, payment_attempts=19, payment_failures=0),
            None,
            "inconclusive",
        ),
        ("crash_free_rate", win(0, crashed_sessions=9), None, "ok"),
        ("crash_free_rate", win(0, crashed_sessions=10), None, "breach"),  # 99% is not > 99%
        ("crash_free_rate", win(0, sessions=50, crashed_sessions=0), None, "inconclusive"),
        ("panic_activations", win(0, panic_activations=6), 2.0, "ok"),
        ("panic_activations", win(0, panic_activations=7), 2.0, "breach"),
        ("panic_activations", win(0, panic_activations=3), 0.0, "ok"),  # floor 1 → limit 3
        ("panic_activations", win(0, panic_activations=4), 0.0, "breach"),
        ("panic_activations", win(0, panic_activations=9), None, "inconclusive"),
        ("ai_token_spend", win(0, ai_tokens=10_000), 1000.0, "ok"),
        ("ai_token_spend", win(0, ai_tokens=10_001), 1000.0, "breach"),
        ("ai_token_spend", win(0, ai_tokens=100), 1000.0, "ok"),
        ("ai_token_spend", win(0, ai_tokens=99), 1000.0, "breach"),  # a collapse deviates too
        ("api_p95_latency", win(0, api=300.0), 200.0, "ok"),
        ("api_p95_latency", win(0, api=301.0), 200.0, "breach"),
        ("api_p95_latency", win(0, api=None), 200.0, "inconclusive"),
        ("db_latency", win(0, db=30.0), 20.0, "ok"),
        ("db_latency", win(0, db=31.0), 20.0, "breach"),
        ("db_latency", win(0, db=90.0, db_ops=10), 20.0, "inconclusive"),
    ],
)
def test_each_metric_against_its_limit(
    metric: MetricName, window: Window, base: float | None, status: str
) -> None:
    assert read(metric, window, base, S, T).status == status


def test_a_metric_not_reported_is_inconclusive_never_ok() -> None:
    w = Window(T0, {"function_invocations": 1000}, batches=1)
    reading = read("function_error_rate", w, None, S, T)
    assert reading.status == "inconclusive"
    assert reading.note == "function_errors not reported"


def test_no_traffic_is_inconclusive_even_when_the_minimum_is_zero() -> None:
    s = S.model_copy(update={"min_payments": 0})
    w = win(0, payment_attempts=0, payment_failures=0)
    assert read("payment_failure_rate", w, None, s, T).status == "inconclusive"


# -- breach confirmation ---------------------------------------------------------------------

B = {"function_errors": 300}  # 30%
OK: dict[str, int] = {}
LOW = {"function_invocations": 10, "function_errors": 5}  # too little traffic


def errors_report(pattern: list[dict[str, int] | None], needed: int = 3) -> Any:
    windows = [win(i, **p) for i, p in enumerate(pattern) if p is not None]
    return analyse(
        env="staging",
        release="1.1.0",
        bake_start=T0,
        now=T0 + STEP * (len(pattern) + 1),
        windows=windows,
        baseline_windows=[],
        s=S.model_copy(update={"metrics": ("function_error_rate",)}),
        t=T.model_copy(update={"consecutive_breaches": needed}),
    )


@pytest.mark.parametrize(
    ("pattern", "needed", "confirmed"),
    [
        ([B, B, B], 3, True),
        ([B, B], 3, False),
        ([B, B, OK, B], 3, False),
        ([B, LOW, B, B], 3, False),  # an inconclusive window breaks the run
        ([B, B, None, B], 3, False),  # so does a missing one
        ([OK, B, B, B, OK], 3, True),  # a confirmed run stays confirmed
        ([B], 1, True),
        ([OK, OK], 1, False),
    ],
)
def test_a_breach_counts_only_after_n_consecutive_windows(
    pattern: list[dict[str, int] | None], needed: int, confirmed: bool
) -> None:
    report = errors_report(pattern, needed)
    assert report.ran
    assert report.ok is not confirmed
    assert bool(report.failures()) is confirmed


def test_a_confirmed_breach_records_the_values_that_caused_it() -> None:
    report = errors_report([OK, B, B, B])
    (check,) = report.checks
    assert report.failures() == [f"function_error_rate: {check.detail}"]
    assert check.detail.startswith("breached in 3 consecutive windows (limit 3): error rate 30.00%")
    values = [w["value"] for w in check.evidence["windows"]]
    assert values == [0.005, 0.3, 0.3, 0.3]
    assert report.detail["windows"][1]["function_errors"] == 300
    assert report.summary == "bake (staging): confirmed breach of function_error_rate"


def test_an_unconfirmed_breach_is_shown_but_does_not_fail() -> None:
    report = errors_report([OK, B, B])
    (check,) = report.checks
    assert report.ran and report.ok and not check.ok and not check.required
    assert "2 breaching window(s), 3 needed" in check.detail


def test_too_little_traffic_is_inconclusive_not_a_pass() -> None:
    report = errors_report([LOW, LOW, LOW])
    assert not report.ran and not report.ok
    assert "inconclusive" in report.summary
    assert "too little traffic (function_invocations 10 < 100)" in report.checks[0].detail


def test_windows_before_the_bake_and_incomplete_windows_are_not_judged() -> None:
    windows = [win(-1, **B), win(0, **B), win(1, **B), win(2, **B)]
    report = analyse(
        env="staging",
        release="1.1.0",
        bake_start=T0,
        now=T0 + STEP * 2 + timedelta(seconds=30),  # window 2 is still open
        windows=windows,
        baseline_windows=[],
        s=S.model_copy(update={"metrics": ("function_error_rate",)}),
        t=T,
    )
    assert [w["start"] for w in report.detail["windows"]] == [
        T0.isoformat(),
        (T0 + STEP).isoformat(),
    ]
    assert report.ok  # two breaching windows so far; three are needed


def test_the_open_window_is_judged_when_asked() -> None:
    report = analyse(
        env="dev",
        release="1.1.0",
        bake_start=T0,
        now=T0 + timedelta(seconds=20),  # window 0 is open
        windows=[win(0, **B), win(1, **B)],
        baseline_windows=[],
        s=S.model_copy(update={"metrics": ("function_error_rate",), "judge_open_window": True}),
        t=T.model_copy(update={"consecutive_breaches": 1}),
    )
    assert not report.ok and report.ran
    assert [w["start"] for w in report.detail["windows"]] == [T0.isoformat()]


# -- baselines -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "static", "expected", "source"),
    [
        (
            [win(i - 5, api=a) for i, a in enumerate([100, 300, 200, 900, 150])],
            None,
            200,
            "median of 5",
        ),
        ([win(-2, api=100), win(-1, api=120)], 250.0, 250, "static baseline"),
        ([win(-2, api=100), win(-1, api=120)], None, None, "no baseline"),
        (
            [win(i - 4, api=50, api_requests=5) for i in range(4)] + [win(-9, api=400)],
            None,
            None,
            "no baseline: 1 measured",
        ),  # quiet windows do not make a baseline
    ],
)
def test_baseline_is_the_median_before_the_bake_else_the_static_one(
    before: list[Window], static: float | None, expected: float | None, source: str
) -> None:
    s = S.model_copy(update={"baseline": StaticBaseline(api_p95_ms=static)})
    value, how = baseline("api_p95_latency", before, s, T)
    assert value == expected
    assert how.startswith(source)


def test_baseline_uses_only_the_last_baseline_windows() -> None:
    s = S.model_copy(update={"baseline_windows": 3})
    before = [win(-6 + i, api=a) for i, a in enumerate([900, 900, 900, 100, 110, 120])]
    assert baseline("api_p95_latency", before, s, T)[0] == 110


def test_a_latency_regression_against_the_measured_baseline_is_confirmed() -> None:
    before = [win(i - 5, api=200) for i in range(5)]
    bake = [win(i, api=450) for i in range(3)]
    report = analyse(
        env="production",
        release="2.0.0",
        bake_start=T0,
        now=T0 + STEP * 3,
        windows=bake,
        baseline_windows=before,
        s=S,
        t=T,
    )
    assert not report.ok and report.ran
    assert [c.name for c in report.checks if c.required and not c.ok] == ["api_p95_latency"]
    assert report.detail["baselines"]["api_p95_latency"]["value"] == 200


def test_all_metrics_healthy_and_conclusive_is_a_pass() -> None:
    before = [win(i - 5) for i in range(5)]
    report = analyse(
        env="production",
        release="2.0.0",
        bake_start=T0,
        now=T0 + STEP * 3,
        windows=[win(i) for i in range(3)],
        baseline_windows=before,
        s=S,
        t=T,
    )
    assert report.ran and report.ok, [c.detail for c in report.checks if not c.ok]
    assert len(report.checks) == 7


def test_a_long_bake_keeps_the_latest_windows_and_the_ones_that_caused_the_breach() -> None:
    pattern: list[dict[str, int] | None] = [OK] * 50
    pattern[5:8] = [B, B, B]
    report = errors_report(pattern)
    (check,) = report.checks
    starts = [w["start"] for w in check.evidence["windows"]]
    expected = [T0 + STEP * i for i in [5, 6, 7, *range(30, 50)]]
    assert starts == [t.isoformat() for t in expected]
    assert check.evidence["windowsJudged"] == 50
    assert len(report.detail["windows"]) == 23
