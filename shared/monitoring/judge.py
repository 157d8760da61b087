"""Pure: the canary judge (Kayenta's NetflixACAJudge, next to the absolute thresholds).

For each configured metric, the per-window values of the canary (the release being rolled
out) and of the stable release, from the same windows, are compared with a Mann-Whitney U
test (`ranksum.py`). A metric is

- `high` / `low` when the confidence interval of the Hodges-Lehmann shift lies beyond
  ±`tolerance` × |estimate| in a direction the metric calls bad, and the canary's mean differs
  from the stable mean by more than the allowed effect size;
- `nodata` when either side has fewer than `min_windows` values (or too few for an interval);
- `pass` otherwise (identical samples pass without a test).

Score = 100 × weight of passing metrics / weight of judged ones (no-data metrics are left out,
as Kayenta's: a canary at 10 % may not see enough payments in a window). A critical metric that
is high or low makes the score 0. The verdict is `pass` (≥ pass_score),
`marginal` (≥ marginal_score), `fail`, or `nodata` (nothing could be judged).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.config import Thresholds
from shared.domain.messages import CheckResult, StepReport
from shared.monitoring.analysis import measure
from shared.monitoring.ranksum import RankSum, rank_sum
from shared.monitoring.settings import (
    JudgeMetric,
    JudgeMetricName,
    JudgeSettings,
    MonitoringSettings,
)
from shared.monitoring.windows import Window

Classification = Literal["pass", "high", "low", "nodata"]
Verdict = Literal["pass", "marginal", "fail", "nodata"]


def _rate(part: str, total: str, minimum: int) -> Callable[[Window], float | None]:
    def value(w: Window) -> float | None:
        n, p = w.count(total), w.count(part)
        return None if n is None or p is None or n < max(minimum, 1) else p / n

    return value


def window_value(
    metric: JudgeMetricName, w: Window, s: MonitoringSettings, t: Thresholds
) -> float | None:
    """The metric in one window of one version, None without enough traffic. Counts are
    normalised by traffic (a canary at 10 % sees a tenth of the panics, not fewer per user)."""
    if metric == "ai_tokens_per_request":
        return _rate("ai_tokens", "function_invocations", t.min_requests)(w)
    if metric == "panic_rate":
        return _rate("panic_activations", "sessions", s.min_sessions)(w)
    value = measure(metric, w, s, t)
    return None if isinstance(value, str) else value


@dataclass(frozen=True)
class MetricJudgement:
    metric: JudgeMetric
    classification: Classification
    canary: int  # values judged on each side
    stable: int
    reason: str
    test: RankSum | None = None
    mean_ratio: float | None = None

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric": self.metric.name,
            "class": self.classification,
            "direction": self.metric.direction,
            "critical": self.metric.critical,
            "weight": self.metric.weight,
            "canaryWindows": self.canary,
            "stableWindows": self.stable,
            "reason": self.reason,
        }
        if self.test is not None:
            out |= {
                "u": self.test.u,
                "p": self.test.p,
                "estimate": self.test.estimate,
                "ci": [self.test.low, self.test.high],
                "exact": self.test.exact,
            }
        if self.mean_ratio is not None:
            out["meanRatio"] = self.mean_ratio
        return out


def _mean_ratio(canary: Sequence[float], stable: Sequence[float]) -> float:
    c, s = statistics.fmean(canary), statistics.fmean(stable)
    if s == 0:
        return 1.0 if c == 0 else float("inf")
    return c / s


def classify(
    metric: JudgeMetric, canary: Sequence[float], stable: Sequence[float], j: JudgeSettings
) -> MetricJudgement:
    """One metric: canary values against stable values (one value per window each)."""

    def result(cls: Classification, why: str, **kw: Any) -> MetricJudgement:
        return MetricJudgement(metric, cls, len(canary), len(stable), why, **kw)

    if min(len(canary), len(stable)) < j.min_windows:
        return result(
            "nodata", f"{len(canary)} canary / {len(stable)} stable windows (< {j.min_windows})"
        )
    if sorted(canary) == sorted(stable):
        return result("pass", "identical samples")
    test = rank_sum(canary, stable, j.confidence)
    ratio = _mean_ratio(canary, stable)
    if test.low is None or test.high is None:
        return result("nodata", "too few windows for the interval", test=test)
    bound = j.tolerance * abs(test.estimate)
    level = f"{j.confidence:.0%}"
    up = metric.direction in ("increase", "either")
    down = metric.direction in ("decrease", "either")
    if up and test.low > bound and ratio > metric.allowed_increase:
        why = f"higher: {level} interval {test.low:.4g}..{test.high:.4g}, mean ratio {ratio:.3f}"
        return result("high", why, test=test, mean_ratio=ratio)
    if down and test.high < -bound and ratio < metric.allowed_decrease:
        why = f"lower: {level} interval {test.low:.4g}..{test.high:.4g}, mean ratio {ratio:.3f}"
        return result("low", why, test=test, mean_ratio=ratio)
    why = f"no harmful shift: {level} interval {test.low:.4g}..{test.high:.4g}"
    return result("pass", why, test=test, mean_ratio=ratio)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    score: float | None
    metrics: tuple[MetricJudgement, ...]
    summary: str

    def evidence(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "score": self.score,
            "summary": self.summary,
            "metrics": [m.evidence() for m in self.metrics],
        }


def score(judged: Sequence[MetricJudgement], j: JudgeSettings) -> Judgement:
    """The weighted score of classified metrics, and the verdict it gives."""
    bad = [m for m in judged if m.classification in ("high", "low")]
    critical_bad = [m.metric.name for m in bad if m.metric.critical]
    counted = [m for m in judged if m.classification != "nodata"]
    if critical_bad:
        names = ", ".join(critical_bad)
        return Judgement("fail", 0.0, tuple(judged), f"critical metric(s) worse: {names}")
    if not counted:
        return Judgement("nodata", None, tuple(judged), "no data for any metric")
    total = sum(m.metric.weight for m in counted)
    value = 100 * sum(m.metric.weight for m in counted if m.classification == "pass") / total
    verdict: Verdict = (
        "pass" if value >= j.pass_score else "marginal" if value >= j.marginal_score else "fail"
    )
    worse = ", ".join(f"{m.metric.name} {m.classification}" for m in bad) or "none"
    return Judgement(verdict, round(value, 2), tuple(judged), f"score {value:.1f}; worse: {worse}")


LOOK_GROWTH = 1.5  # each look at the data has 1.5x the windows of the one before


def look_size(available: int, first: int) -> int:
    """How many windows a look uses: the largest of `first`, 1.5x that, 1.5x again, … that is
    available (all of them below `first`). The judge runs on every analysis, but its samples
    change only at these points, so a bake of 30 windows is judged on 4 distinct samples (8,
    12, 18, 27 windows), not 23: every distinct look is another chance of a false positive."""
    size, nxt = available, first
    if available >= first:
        while nxt <= available:
            size, nxt = nxt, math.ceil(nxt * LOOK_GROWTH)
    return size


def judge(
    canary: Sequence[Window],
    stable: Sequence[Window],
    s: MonitoringSettings,
    t: Thresholds,
) -> Judgement:
    """Canary windows against stable windows: only windows both versions served count, the
    oldest `look_size` of them."""
    j = s.judge
    common = sorted({w.start for w in canary} & {w.start for w in stable})
    both = set(common[: look_size(len(common), j.min_windows)])
    judged = []
    for metric in j.metrics:
        values = {
            side: [
                v
                for w in windows
                if w.start in both
                for v in (window_value(metric.name, w, s, t),)
                if v is not None
            ]
            for side, windows in (("canary", canary), ("stable", stable))
        }
        judged.append(classify(metric, values["canary"], values["stable"], j))
    return score(judged, j)


def with_judgement(report: StepReport, judgement: Judgement, label: str) -> StepReport:
    """The thresholds' report with the judge's verdict folded in: a confirmed threshold breach
    or a judge `fail` fails the step (rollback, or abort to stable); `marginal` or `nodata`
    make it inconclusive (a person decides); a pass needs both to pass. The judge's evidence is
    kept in `detail.judge`."""
    ok = judgement.verdict == "pass"
    check = CheckResult(
        name="canary_judge",
        ok=ok,
        required=judgement.verdict == "fail",
        detail=f"{judgement.verdict}: {judgement.summary}",
        evidence=judgement.evidence(),
    )
    detail = {**report.detail, "judge": judgement.evidence()}
    checks = (*report.checks, check)
    if report.ran and not report.ok:  # the thresholds' breach stands
        return report.model_copy(update={"checks": checks, "detail": detail})
    if judgement.verdict == "fail":
        summary = f"{label}: canary judge failed the release ({judgement.summary})"
        return StepReport(ran=True, ok=False, summary=summary, checks=checks, detail=detail)
    if not report.ran or judgement.verdict != "pass":
        why = report.summary if not report.ran else f"canary judge {judgement.verdict}"
        summary = f"{label}: inconclusive ({why}; judge: {judgement.summary}); not a pass"
        return StepReport(ran=False, ok=False, summary=summary, checks=checks, detail=detail)
    summary = f"{report.summary}; canary judge passed ({judgement.summary})"
    return StepReport(ran=True, ok=True, summary=summary, checks=checks, detail=detail)
