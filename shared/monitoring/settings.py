"""Per-environment monitoring settings (`[environments.<env>.monitoring]` in checks.toml).

The thresholds themselves (error rate, factors, `consecutive_breaches`, `min_requests`) are the
env's `Thresholds` in `config/environments.toml`; this file adds windows and baselines.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
