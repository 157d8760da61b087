"""Pure bake analysis: windows in, a `StepReport` out. No I/O; `now` is passed.

Per metric and window the value is a breach, ok, or inconclusive (not reported, too little
traffic, no baseline). A breach counts only when it holds for `consecutive_breaches` adjacent
windows (Argo Rollouts' consecutive-failure limit); an inconclusive or missing window breaks
the run. The step is:

- a confirmed breach of any metric → `ran=True, ok=False` (the rollout rolls back);
- otherwise every monitored metric conclusive in at least one window → `ran=True, ok=True`;
- otherwise → `ran=False` (inconclusive, never a pass).

Every report carries the per-window values and the baselines it used.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.config import Thresholds
from shared.domain.messages import CheckResult, StepReport
from shared.monitoring.settings import MetricName, MonitoringSettings
from shared.monitoring.windows import Window

Status = Literal["ok", "breach", "inconclusive"]
# metrics compared with a baseline, and how that baseline is read from a window
BASELINED: tuple[MetricName, ...] = (
    "panic_activations",
    "ai_token_spend",
    "api_p95_latency",
    "db_latency",
)


EVIDENCE_WINDOWS = 20  # the most recent windows kept in a report's evidence


@dataclass(frozen=True)
class Reading:
    status: Status
    value: float | None
    note: str


def _enough(w: Window, counter: str, minimum: int) -> str | None:
    n = w.count(counter)
    if n is None:
        return f"{counter} not reported"
    if n < max(minimum, 1):  # no traffic is never conclusive, whatever the minimum says
        return f"too little traffic ({counter} {n} < {max(minimum, 1)})"
    return None


def measure(metric: MetricName, w: Window, s: MonitoringSettings, t: Thresholds) -> float | str:
    """The metric's value in one window, or why it has none (a string)."""
    if metric == "function_error_rate":
        why = _enough(w, "function_invocations", t.min_requests)
        errors = w.count("function_errors")
        if why or errors is None:
            return why or "function_errors not reported"
        return errors / (w.count("function_invocations") or 1)
    if metric == "payment_failure_rate":
        why = _enough(w, "payment_attempts", s.min_payments)
        failures = w.count("payment_failures")
        if why or failures is None:
            return why or "payment_failures not reported"
        return failures / max(w.count("payment_attempts") or 0, 1)
    if metric == "crash_free_rate":
        why = _enough(w, "sessions", s.min_sessions)
        crashed = w.count("crashed_sessions")
        if why or crashed is None:
            return why or "crashed_sessions not reported"
        return 1 - crashed / max(w.count("sessions") or 0, 1)
    if metric == "panic_activations":
        why = _enough(w, "sessions", s.min_sessions)
        panics = w.count("panic_activations")
        return why or (float(panics) if panics is not None else "panic_activations not reported")
    if metric == "ai_token_spend":
        why = _enough(w, "function_invocations", t.min_requests)
        tokens = w.count("ai_tokens")
        return why or (float(tokens) if tokens is not None else "ai_tokens not reported")
    if metric == "api_p95_latency":
        why = _enough(w, "api_requests", t.min_requests)
        return why or (w.api_p95_ms if w.api_p95_ms is not None else "apiP95Ms not reported")
    why = _enough(w, "db_ops", t.min_requests)
    return why or (w.db_p95_ms if w.db_p95_ms is not None else "dbP95Ms not reported")


def _static(metric: MetricName, s: MonitoringSettings) -> float | None:
    b = s.baseline
    return {
        "panic_activations": b.panic_activations,
        "ai_token_spend": b.ai_tokens,
        "api_p95_latency": b.api_p95_ms,
        "db_latency": b.db_latency_ms,
    }.get(metric)


def baseline(
    metric: MetricName, before: Sequence[Window], s: MonitoringSettings, t: Thresholds
) -> tuple[float | None, str]:
    """Median of the metric over the windows before the bake, else the static baseline."""
    measured = [measure(metric, w, s, t) for w in before[-s.baseline_windows :]]
    values = [v for v in measured if not isinstance(v, str)]
    if len(values) >= s.min_baseline_windows:
        return statistics.median(values), f"median of {len(values)} windows before the bake"
    static = _static(metric, s)
    if static is not None:
        return static, f"static baseline from checks.toml ({len(values)} measured windows)"
    return None, f"no baseline: {len(values)} measured windows before the bake, none configured"


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


Judge = Callable[[float, float | None], tuple[bool, str]]


def _judges(s: MonitoringSettings, t: Thresholds) -> dict[MetricName, Judge]:
    def panic(v: float, b: float | None) -> tuple[bool, str]:
        limit = t.panic_surge_factor * max(b or 0.0, s.panic_floor)
        return v > limit, f"{v:g} activations vs limit {limit:g} ({t.panic_surge_factor:g}x)"

    def tokens(v: float, b: float | None) -> tuple[bool, str]:
        f, base = t.ai_token_spend_factor, b or 0.0
        high, low = v > f * base, base > 0 and v < base / f
        allowed = f"{base / f:g}..{base * f:g}"
        return high or low, f"{v:g} tokens vs baseline {base:g} (allowed {allowed})"

    def factor(name: str, f: float) -> Judge:
        def judge(v: float, b: float | None) -> tuple[bool, str]:
            base = b or 0.0
            return v > f * base, f"{name} {v:.0f} ms vs baseline {base:.0f} ms ({f:g}x)"

        return judge

    return {
        "function_error_rate": lambda v, _: (
            v >= t.function_error_rate,
            f"error rate {_pct(v)} (must stay below {_pct(t.function_error_rate)})",
        ),
        "payment_failure_rate": lambda v, _: (
            v >= t.payment_failure_rate,
            f"payment failure rate {_pct(v)} (must stay below {_pct(t.payment_failure_rate)})",
        ),
        "crash_free_rate": lambda v, _: (
            v <= t.crash_free_rate,
            f"crash-free rate {_pct(v)} (must stay above {_pct(t.crash_free_rate)})",
        ),
        "panic_activations": panic,
        "ai_token_spend": tokens,
        "api_p95_latency": factor("api p95", t.api_p95_latency_factor),
        "db_latency": factor("db p95", t.db_latency_factor),
    }


def read(
    metric: MetricName, w: Window, base: float | None, s: MonitoringSettings, t: Thresholds
) -> Reading:
    value = measure(metric, w, s, t)
    if isinstance(value, str):
        return Reading("inconclusive", None, value)
    if metric in BASELINED and base is None:
        return Reading("inconclusive", value, "no baseline to compare with")
    breached, note = _judges(s, t)[metric](value, base)
    return Reading("breach" if breached else "ok", value, note)


def longest_run(
    windows: Sequence[Window], readings: Sequence[Reading], step: timedelta
) -> list[int]:
    """Indexes of the longest run of breaching readings in adjacent windows."""
    best: list[int] = []
    run: list[int] = []
    for i, r in enumerate(readings):
        adjacent = bool(run) and windows[i].start - windows[run[-1]].start == step
        if r.status != "breach":
            run = []
            continue
        run = [*run, i] if adjacent else [i]
        if len(run) > len(best):
            best = run
    return best


def _kept(count: int, cause: Sequence[int]) -> list[int]:
    """Which windows the evidence keeps: the latest ones and every one that caused a breach
    (a long bake of short windows would not fit in one Firestore document)."""
    return sorted(set(range(max(0, count - EVIDENCE_WINDOWS), count)) | set(cause))


@dataclass(frozen=True)
class MetricVerdict:
    """One metric over the judged windows: its check, and what the report needs of it."""

    check: CheckResult
    outcome: Literal["breach", "inconclusive", "within"]
    cause: list[int]  # the windows that confirmed a breach (kept as evidence)
    run: list[int]  # the confirmed run of breaching windows: the incident's extent
    baseline: dict[str, Any] | None  # for baselined metrics: the value and where it came from


def analyse(
    *,
    env: str,
    release: str,
    bake_start: datetime,
    now: datetime,
    windows: Sequence[Window],
    baseline_windows: Sequence[Window],
    s: MonitoringSettings,
    t: Thresholds,
    label: str = "bake",
) -> StepReport:
    """Judge the complete windows since `bake_start` (a live watch passes where its judged
    span starts), and the open one if `judge_open_window`: its traffic so far is a sample too,
    and judging it shortens detection by up to a window."""
    baked = judged_windows(windows, bake_start, now, s)
    verdicts = {m: judge_metric(m, baked, baseline_windows, s, t) for m in s.metrics}
    facts: dict[str, Any] = {
        "release": release,
        "windows": [
            baked[i].as_evidence()
            for i in _kept(len(baked), [i for v in verdicts.values() for i in v.cause])
        ],
        "windowsJudged": len(baked),
        "baselines": {m: v.baseline for m, v in verdicts.items() if v.baseline is not None},
        "bakeStart": bake_start.isoformat(),
        "windowSeconds": s.window_seconds,
        "evaluatedAt": now.isoformat(),
    }
    checks = tuple(v.check for v in verdicts.values())
    confirmed = [m for m, v in verdicts.items() if v.outcome == "breach"]
    inconclusive = [m for m, v in verdicts.items() if v.outcome == "inconclusive"]
    if confirmed:
        extent = [i for m in confirmed for i in (verdicts[m].run[0], verdicts[m].run[-1])]
        facts["breachStart"] = baked[min(extent)].start.isoformat()
        facts["breachEnd"] = baked[max(extent)].start.isoformat()
        summary = f"{label} ({env}): confirmed breach of {', '.join(confirmed)}"
        return StepReport(ran=True, ok=False, summary=summary, checks=checks, detail=facts)
    if inconclusive:
        summary = f"{label} ({env}): inconclusive ({', '.join(inconclusive)}); not a pass"
        return StepReport(ran=False, ok=False, summary=summary, checks=checks, detail=facts)
    summary = (
        f"{label} ({env}): {len(s.metrics)} metric(s) within limits over {len(baked)} window(s)"
    )
    return StepReport(ran=True, ok=True, summary=summary, checks=checks, detail=facts)


def judged_windows(
    windows: Sequence[Window], since: datetime, now: datetime, s: MonitoringSettings
) -> list[Window]:
    """The windows that started at `since` or later and have ended (or the open one, when the
    settings judge it)."""
    step = timedelta(seconds=s.window_seconds)
    return [
        w
        for w in windows
        if w.start >= since and (w.start + step <= now or (s.judge_open_window and w.start <= now))
    ]


def judge_metric(
    metric: MetricName,
    baked: Sequence[Window],
    baseline_windows: Sequence[Window],
    s: MonitoringSettings,
    t: Thresholds,
) -> MetricVerdict:
    needed = t.consecutive_breaches
    base, how = baseline(metric, baseline_windows, s, t) if metric in BASELINED else (None, "")
    known = {"value": base, "source": how} if metric in BASELINED else None
    readings = [read(metric, w, base, s, t) for w in baked]
    run = longest_run(baked, readings, timedelta(seconds=s.window_seconds))
    cause = run[-needed:] if len(run) >= needed else []
    evidence: dict[str, Any] = {
        "windows": [
            {"start": baked[i].start.isoformat(), "status": r.status, "value": r.value}
            for i in _kept(len(baked), cause)
            for r in (readings[i],)
        ],
        "windowsJudged": len(baked),
        "consecutiveBreaches": len(run),
        "needed": needed,
        **({"baseline": known} if known is not None else {}),
    }
    if len(run) >= needed:
        notes = "; ".join(readings[i].note for i in cause)
        detail = f"breached in {len(run)} consecutive windows (limit {needed}): {notes}"
        check = CheckResult(name=metric, ok=False, detail=detail, evidence=evidence)
        return MetricVerdict(check, "breach", cause, run, known)
    conclusive = [r for r in readings if r.status != "inconclusive"]
    if not conclusive:
        why = readings[-1].note if readings else "no complete window since the bake began"
        check = CheckResult(
            name=metric, ok=False, required=False, detail=f"inconclusive: {why}", evidence=evidence
        )
        return MetricVerdict(check, "inconclusive", [], [], known)
    detail = conclusive[-1].note
    if run:
        detail = f"{len(run)} breaching window(s), {needed} needed to confirm; {detail}"
    check = CheckResult(name=metric, ok=not run, required=False, detail=detail, evidence=evidence)
    return MetricVerdict(check, "within", [], run, known)
