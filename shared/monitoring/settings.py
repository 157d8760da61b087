"""Per-environment monitoring settings (`[environments.<env>.monitoring]` in checks.toml).

The thresholds themselves (error rate, factors, `consecutive_breaches`, `min_requests`) are the
env's `Thresholds` in `config/environments.toml`; this file adds windows and baselines.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

MetricName = Literal[
    "function_error_rate",
    "payment_failure_rate",
    "panic_activations",
    "ai_token_spend",
    "crash_free_rate",
    "api_p95_latency",
    "db_latency",
]
ALL_METRICS: tuple[MetricName, ...] = (
    "function_error_rate",
    "payment_failure_rate",
    "panic_activations",
    "ai_token_spend",
    "crash_free_rate",
    "api_p95_latency",
    "db_latency",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaticBaseline(_Strict):
    """Per-window baselines used when too few windows before the bake exist to measure one."""

    panic_activations: float | None = Field(None, ge=0)
    ai_tokens: float | None = Field(None, ge=0)
    api_p95_ms: float | None = Field(None, gt=0)
    db_latency_ms: float | None = Field(None, gt=0)


Direction = Literal["increase", "decrease", "either"]
JudgeMetricName = Literal[
    "api_p95_latency",
    "db_latency",
    "function_error_rate",
    "payment_failure_rate",
    "crash_free_rate",
    "ai_tokens_per_request",
    "panic_rate",
]


class JudgeMetric(_Strict):
    """One metric the canary judge compares (Kayenta's canary config, per metric).

    `direction`: which change is bad; `critical`: a bad change fails the whole analysis;
    `weight`: its share of the score; `allowed_increase` / `allowed_decrease`: the mean ratio
    canary/stable a statistically significant change must also exceed to count (Kayenta's
    effect size, 1.0 = any)."""

    name: JudgeMetricName
    direction: Direction = "increase"
    critical: bool = False
    weight: float = Field(1.0, gt=0)
    allowed_increase: float = Field(1.0, ge=1.0)
    allowed_decrease: float = Field(1.0, gt=0, le=1.0)


DEFAULT_JUDGE_METRICS: tuple[JudgeMetric, ...] = (
    JudgeMetric(name="api_p95_latency", critical=True),
    JudgeMetric(name="function_error_rate", critical=True),
    JudgeMetric(name="payment_failure_rate", critical=True),
    JudgeMetric(name="crash_free_rate", direction="decrease", critical=True),
    JudgeMetric(name="db_latency"),
    JudgeMetric(name="ai_tokens_per_request", direction="either"),
    JudgeMetric(name="panic_rate"),
)


class JudgeSettings(_Strict):
    """The canary judge (`[environments.<env>.monitoring.judge]`): the new release's windows
    against the stable release's, from the same windows (both must be serving: a canary).
    Defaults are Kayenta's NetflixACAJudge: Mann-Whitney at 98 %, tolerance 25 % of the
    Hodges-Lehmann estimate, pass at 95, marginal at 75."""

    enabled: bool = False
    confidence: float = Field(0.98, gt=0.5, lt=1)
    tolerance: float = Field(0.25, ge=0)
    pass_score: float = Field(95.0, ge=0, le=100)
    marginal_score: float = Field(75.0, ge=0, le=100)
    # fewer windows with a value on either side: no data for that metric (a 98 % interval
    # needs at least 5 a side)
    min_windows: int = Field(8, ge=2)
    metrics: tuple[JudgeMetric, ...] = DEFAULT_JUDGE_METRICS

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.marginal_score > self.pass_score:
            raise ValueError(
                f"marginal_score ({self.marginal_score:g}) is above pass_score "
                f"({self.pass_score:g})"
            )
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names) or not names:
            raise ValueError("metrics must name each metric once, and at least one")
        return self


class MonitoringSettings(_Strict):
    window_seconds: int = Field(60, ge=1, le=3600)
    metrics: tuple[MetricName, ...] = ALL_METRICS  # the metrics that must be conclusive
    min_payments: int = Field(20, ge=0)
    min_sessions: int = Field(100, ge=0)
    # baseline = median over up to this many windows before the bake began…
    baseline_windows: int = Field(60, ge=1, le=10_000)
    # …if at least this many of them have the metric; else the static baseline below
    min_baseline_windows: int = Field(5, ge=1)
    baseline: StaticBaseline = StaticBaseline()
    # a panic baseline below this counts as this (one activation is not a 3x surge of zero)
    panic_floor: float = Field(1.0, gt=0)
    # judge the window still open once it has the traffic (faster detection, noisier values)
    judge_open_window: bool = False
    max_clock_skew_seconds: int = Field(60, ge=0, le=3600)
    source: Literal["app-metrics", "cloud-monitoring"] = "app-metrics"
    # documents each window's aggregate is spread over: Firestore sustains about one write
    # per second per document, so at least the batches per second the env's instances send
    metric_shards: int = Field(16, ge=1, le=500)
    # judge the env as soon as a batch is stored (app-metrics only; the tick stays the
    # backstop), at most one analysis starting per this many seconds per env
    detect_on_batch: bool = True
    detect_debounce_seconds: float = Field(1.0, ge=0, le=300)
    judge: JudgeSettings = JudgeSettings()
