"""The canary judge: per-metric classification (direction, effect size, no data), the weighted
score and critical metrics, and a bake that it fails, passes or leaves to a person."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.config import PlaneConfig, Thresholds
from shared.domain.messages import StepReport
from shared.domain.states import State
from shared.gates.checks_file import ChecksConfig
from shared.monitoring.bake import MetricsBakeAnalysis
from shared.monitoring.handler import MetricsHandler
from shared.monitoring.judge import (
    Judgement,
    MetricJudgement,
    classify,
    judge,
    look_size,
    score,
    with_judgement,
)
from shared.monitoring.settings import JudgeMetric, JudgeSettings, MonitoringSettings
from shared.monitoring.windows import Window
from tests.unit.fakes import Driver, make_world
from tests.unit.test_monitoring_bake import SHA, Memory, go_live, message

J = JudgeSettings(enabled=True)
LATENCY = JudgeMetric(name="api_p95_latency", critical=True)
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def noisy(rng: random.Random, centre: float, n: int) -> list[float]:
    return [centre * rng.uniform(0.95, 1.05) for _ in range(n)]


def test_a_clearly_higher_latency_is_high_with_its_evidence() -> None:
    rng = random.Random(1)
    m = classify(LATENCY, noisy(rng, 130, 12), noisy(rng, 100, 12), J)
    assert m.classification == "high"
    assert m.test is not None and m.test.p < 0.02
    assert m.mean_ratio == pytest.approx(1.3, rel=0.05)
    ev = m.evidence()
    assert ev["class"] == "high" and ev["ci"][0] > 0.25 * abs(ev["estimate"])
    assert {"u", "p", "estimate", "ci", "meanRatio"} <= set(ev)


def test_direction_decides_which_change_is_bad() -> None:
    rng = random.Random(2)
    faster = (noisy(rng, 70, 12), noisy(rng, 100, 12))
    assert classify(LATENCY, *faster, J).classification == "pass"  # faster is not worse
    either = LATENCY.model_copy(update={"direction": "either"})
    assert classify(either, *faster, J).classification == "low"
    crash_free = JudgeMetric(name="crash_free_rate", direction="decrease")
    lower = ([0.97 + rng.uniform(0, 0.005) for _ in range(12)], [0.995] * 12)
    assert classify(crash_free, *lower, J).classification == "low"
    assert classify(crash_free, lower[1], lower[0], J).classification == "pass"


def test_an_allowed_effect_size_lets_a_small_significant_increase_pass() -> None:
    rng = random.Random(3)
    slower = (noisy(rng, 108, 15), noisy(rng, 100, 15))
    assert classify(LATENCY, *slower, J).classification == "high"
    lenient = LATENCY.model_copy(update={"allowed_increase": 1.2})
    assert classify(lenient, *slower, J).classification == "pass"


def test_too_few_windows_is_no_data_not_a_pass() -> None:
    m = classify(LATENCY, [300.0] * 5, [100.0] * 20, J)
    assert m.classification == "nodata"
    assert "5 canary / 20 stable windows" in m.reason


def test_identical_samples_pass_without_a_test() -> None:
    m = classify(LATENCY, [100.0, 101.0] * 5, [101.0, 100.0] * 5, J)
    assert (m.classification, m.test) == ("pass", None)


def _judged(name: str, cls: str, *, critical: bool = False, w: float = 1.0) -> MetricJudgement:
    metric = JudgeMetric(name=name, critical=critical, weight=w)
    return MetricJudgement(metric, cls, 10, 10, "")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("classes", "verdict", "value"),
    [
        (["pass"] * 4, "pass", 100.0),
        (["pass", "pass", "pass", "high"], "marginal", 75.0),
        (["pass", "high", "low", "pass"], "fail", 50.0),
        (["pass", "pass", "pass", "nodata"], "pass", 100.0),  # no data is left out
        (["nodata"] * 4, "nodata", None),
    ],
)
def test_score_is_the_share_of_passing_metrics(
    classes: list[str], verdict: str, value: float | None
) -> None:
    names = ["db_latency", "panic_rate", "ai_tokens_per_request", "payment_failure_rate"]
    result = score([_judged(n, c) for n, c in zip(names, classes, strict=True)], J)
    assert (result.verdict, result.score) == (verdict, value)


def test_weights_shape_the_score() -> None:
    judged = [_judged("db_latency", "pass", w=3.0), _judged("panic_rate", "high", w=1.0)]
    assert score(judged, J).score == 75.0


def test_a_critical_failure_fails_the_whole_analysis() -> None:
    judged = [_judged("api_p95_latency", "high", critical=True)] + [
        _judged(n, "pass") for n in ("db_latency", "panic_rate", "ai_tokens_per_request")
    ]
    result = score(judged, J)
    assert (result.verdict, result.score) == ("fail", 0.0)
    assert "api_p95_latency" in result.summary


def test_a_critical_metric_without_data_is_left_out_like_any_other() -> None:
    judged = [_judged("api_p95_latency", "nodata", critical=True), _judged("db_latency", "pass")]
    assert (score(judged, J).verdict, score(judged, J).score) == ("pass", 100.0)


def test_settings_refuse_a_marginal_score_above_the_pass_score() -> None:
    with pytest.raises(ValueError, match="marginal_score"):
        JudgeSettings(pass_score=70, marginal_score=80)


def _windows(latencies: list[float], requests: int = 500) -> list[Window]:
    return [
        Window(
            start=T0 + timedelta(minutes=i),
            counters={"api_requests": requests, "function_invocations": requests},
            api_p95_ms=v,
        )
        for i, v in enumerate(latencies)
    ]


def test_only_windows_both_versions_served_are_compared() -> None:
    s = MonitoringSettings(judge=J.model_copy(update={"metrics": (LATENCY,)}))
    rng = random.Random(4)
    canary = _windows(noisy(rng, 100, 10))
    stable = _windows(noisy(rng, 100, 20))[10:]  # other windows than the canary's
    assert judge(canary, stable, s, Thresholds()).verdict == "nodata"


def test_a_window_with_too_little_traffic_gives_no_value() -> None:
    s = MonitoringSettings(judge=J.model_copy(update={"metrics": (LATENCY,)}))
    quiet = _windows([400.0] * 10, requests=3)
    result = judge(quiet, _windows([100.0] * 10), s, Thresholds())
    assert result.verdict == "nodata"
    assert result.metrics[0].canary == 0


@pytest.mark.parametrize(
    ("verdict", "ran", "ok"),
    [("pass", True, True), ("marginal", False, False), ("nodata", False, False)],
)
def test_marginal_and_no_data_are_inconclusive_fail_fails(
    verdict: str, ran: bool, ok: bool
) -> None:
    thresholds_ok = StepReport(ran=True, ok=True, summary="within limits")
    out = with_judgement(thresholds_ok, Judgement(verdict, None, (), "x"), "bake")  # type: ignore[arg-type]
    assert (out.ran, out.ok) == (ran, ok)
    assert out.detail["judge"]["verdict"] == verdict
    failed = with_judgement(thresholds_ok, Judgement("fail", 0.0, (), "x"), "bake")
    assert (failed.ran, failed.ok) == (True, False)
    assert failed.failures() == ["canary_judge: fail: x"]


# -- the judge in a bake, through the bus -----------------------------------------------------

CHECKS = ChecksConfig.model_validate(
    {
        "environments": {
            "staging": {
                "monitoring": {
                    "window_seconds": 60,
                    "metrics": ["function_error_rate", "api_p95_latency"],
                    "baseline": {"api_p95_ms": 200.0},
                    "judge": {
                        "enabled": True,
                        "metrics": [
                            {"name": "api_p95_latency", "critical": True},
                            {"name": "function_error_rate", "critical": True},
                        ],
                    },
                }
            }
        }
    }
)


def world(plane: PlaneConfig) -> tuple[Driver, Memory]:
    w = make_world(plane)
    mem = Memory()
    w.bus.ports.bake = MetricsBakeAnalysis(CHECKS, mem)
    return Driver(w), mem


def publish_both(d: Driver, mem: Memory, windows: int, canary_p95: float, seed: int) -> None:
    """Stable 1.0.0 and canary 1.1.0 both serve each window (a canary split)."""
    h = MetricsHandler(plane=d.w.bus.plane, checks=CHECKS, sink=mem, letters=mem, clock=d.w.clock)
    rng = random.Random(seed)
    since = d.rollout("1.1.0", "staging").state_since
    for i in range(windows):
        for release, p95 in (("1.0.0", 120.0), ("1.1.0", canary_p95)):
            body: dict[str, Any] = {
                "batchId": f"{release}-{i}",
                "env": "staging",
                "release": release,
                "windowStart": (since + timedelta(minutes=i + 1)).isoformat(),
                "windowSeconds": 60,
                "counters": {"functionInvocations": 400, "functionErrors": 2, "apiRequests": 400},
                "latency": {"apiP95Ms": p95 * rng.uniform(0.93, 1.07)},
            }
            assert h.handle(message(body, f"m-{release}-{i}")) == "stored"


def bake_canary(plane: PlaneConfig, canary_p95: float) -> Driver:
    d, mem = world(plane)
    go_live(d, "1.0.0")
    d.command(type="release.create", version="1.1.0", commit=SHA, branch="main", author="a")
    d.command(type="release.promote", release="1.1.0", env="staging", actor="alice")
    d.step("1.1.0/staging/1/migrate", "SUCCESS")
    d.step("1.1.0/staging/1/deploy", "SUCCESS")
    since = d.rollout("1.1.0", "staging").state_since
    d.w.clock.now = since.replace(second=0, microsecond=0) + timedelta(minutes=13)
    publish_both(d, mem, 12, canary_p95, seed=5)
    d.tick("staging")
    return d


def test_a_canary_30_percent_slower_under_the_latency_budget_is_rolled_back_by_the_judge(
    plane: PlaneConfig,
) -> None:
    d = bake_canary(plane, canary_p95=156.0)  # 1.3x stable, under 1.5x the 200 ms baseline
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert rollout.reason is not None and rollout.reason.startswith("canary_judge: fail")
    judged = rollout.steps["bake"].detail["judge"]
    assert judged["verdict"] == "fail" and judged["score"] == 0.0
    latency = next(m for m in judged["metrics"] if m["metric"] == "api_p95_latency")
    assert latency["class"] == "high" and latency["canaryWindows"] == 12
    assert d.w.deploy_target.calls == [("1.0.0", "staging")]


def test_a_canary_like_stable_passes_the_judge_and_goes_live(plane: PlaneConfig) -> None:
    d = bake_canary(plane, canary_p95=120.0)  # 12 windows: past staging's 5-minute bake
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.LIVE
    assert rollout.steps["bake"].status == "passed"
    assert rollout.steps["bake"].detail["judge"]["verdict"] == "pass"


def test_the_judge_looks_at_few_distinct_samples_as_windows_come_in() -> None:
    sizes = [look_size(n, 8) for n in range(1, 31)]
    assert sizes[:7] == [1, 2, 3, 4, 5, 6, 7]  # below the minimum: no data anyway
    assert sorted(set(sizes[7:])) == [8, 12, 18, 27]


def test_a_look_uses_the_oldest_common_windows() -> None:
    s = MonitoringSettings(judge=J.model_copy(update={"metrics": (LATENCY,)}))
    rng = random.Random(6)
    canary = _windows([*noisy(rng, 100, 12), 900.0, 900.0])  # the two newest: not yet looked at
    stable = _windows(noisy(rng, 100, 14))
    result = judge(canary, stable, s, Thresholds())
    assert result.verdict == "pass" and result.metrics[0].canary == 12
