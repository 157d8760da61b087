"""Pure smoke-check judgement: one observed HTTP answer against one declared check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.domain.messages import CheckResult, StepReport
from shared.smoke.settings import SmokeCheck

BODY_CAP = 64 * 1024  # only the start of a body is searched (and never stored)


@dataclass(frozen=True)
class Observation:
    url: str
    status: int | None = None
    latency_ms: float | None = None
    body: str = ""
    error: str | None = None


def problems(check: SmokeCheck, seen: Observation) -> list[str]:
    if seen.error is not None:
        return [f"no answer: {seen.error}"]
    out = []
    if seen.status != check.status:
        out.append(f"status {seen.status}, expected {check.status}")
    if check.body_contains is not None and check.body_contains not in seen.body[:BODY_CAP]:
        out.append(f"body does not contain {check.body_contains!r}")
    if seen.latency_ms is not None and seen.latency_ms > check.latency_ms:
        out.append(f"took {seen.latency_ms:.0f} ms, budget {check.latency_ms:.0f} ms")
    return out


def result(check: SmokeCheck, attempts: list[Observation]) -> CheckResult:
    """The check passes if its last attempt passed; every attempt is in the evidence."""
    last = attempts[-1]
    found = problems(check, last)
    tries: list[dict[str, Any]] = [
        {
            "status": a.status,
            "latencyMs": None if a.latency_ms is None else round(a.latency_ms, 1),
            **({"error": a.error} if a.error else {}),
        }
        for a in attempts
    ]
    evidence = {
        "url": last.url,
        "expectedStatus": check.status,
        "latencyBudgetMs": check.latency_ms,
        "attempts": tries,
    }
    detail = "; ".join(found) if found else f"{last.status} in {last.latency_ms or 0:.0f} ms"
    if found and len(attempts) > 1:
        detail += f" (after {len(attempts)} attempts)"
    return CheckResult(
        name=check.name, ok=not found, required=check.required, detail=detail, evidence=evidence
    )


def report(env: str, checks: tuple[CheckResult, ...]) -> StepReport:
    if not checks:
        return StepReport.not_run(f"smoke ({env}): no smoke checks configured", ok=True)
    failed = [c.name for c in checks if c.required and not c.ok]
    summary = f"smoke ({env}): {len(checks)} checked, {len(failed)} failed"
    if failed:
        summary += f" ({', '.join(failed)})"
    return StepReport(ran=True, ok=not failed, summary=summary, checks=checks)
