"""Small server-side SVG bar charts: numbers in, bar geometry out (the template draws them).
Pure; no JavaScript on the page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.config import Thresholds

WIDTH, HEIGHT = 320, 80


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    kind: str  # css class: ok, breach, inconclusive, plain
    title: str  # the value as a tooltip and for screen readers


@dataclass(frozen=True)
class Chart:
    label: str
    bars: list[Bar]
    limit_y: float | None  # the threshold's line, when the limit is a fixed number
    limit_label: str | None
    top: str  # the value the chart's top stands for
    span: str  # the first and last bar's captions


def bars(
    label: str,
    values: list[tuple[str, float | None, str]],
    limit: float | None = None,
    fmt: str = "{:g}",
) -> Chart:
    """One bar per (caption, value, kind); a value of None is a gap (nothing measured)."""
    known = [v for _, v, _ in values if v is not None]
    top = max([*known, limit or 0.0, 1e-9]) * 1.1
    step = WIDTH / max(len(values), 1)
    out = []
    for i, (caption, value, kind) in enumerate(values):
        h = 0.0 if value is None else HEIGHT * value / top
        shown = "no data" if value is None else fmt.format(value)
        out.append(Bar(i * step + 1, HEIGHT - h, max(step - 2, 1), h, kind, f"{caption}: {shown}"))
    limit_y = HEIGHT - HEIGHT * limit / top if limit is not None else None
    return Chart(
        label,
        out,
        limit_y,
        f"limit {fmt.format(limit)}" if limit is not None else None,
        fmt.format(top / 1.1),
        f"{values[0][0]} to {values[-1][0]}" if values else "",
    )


# metric -> how to turn a window's value into the chart's number, and its threshold
_RATES = {
    "function_error_rate": "function_error_rate",
    "payment_failure_rate": "payment_failure_rate",
    "crash_free_rate": "crash_free_rate",
}
_FACTORS = {"api_p95_latency": "api_p95_latency_factor", "db_latency": "db_latency_factor"}


def limit_of(metric: str, evidence: dict[str, Any], t: Thresholds) -> float | None:
    """The fixed limit a metric's windows are judged against, where there is one number."""
    if metric in _RATES:
        return float(getattr(t, _RATES[metric]))
    base = (evidence.get("baseline") or {}).get("value")
    if metric in _FACTORS and isinstance(base, int | float):
        return float(getattr(t, _FACTORS[metric])) * float(base)
    return None  # panic and token spend: the limit depends on floors and both directions


def metric_chart(check: dict[str, Any], t: Thresholds) -> Chart:
    """A bake or watch check's windows against its limit."""
    evidence = check.get("evidence") or {}
    windows = evidence.get("windows") or []
    values = [
        (str(w.get("start", ""))[11:19], w.get("value"), str(w.get("status", "plain")))
        for w in windows
        if isinstance(w, dict)
    ]
    metric = str(check.get("name", ""))
    fmt = "{:.2%}" if metric in _RATES else "{:g}"
    return bars(metric, values, limit_of(metric, evidence, t), fmt)
