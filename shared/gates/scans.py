"""The `sast`, `dependencies` and `sbom` gates: the CI build's scan summaries, judged. Pure.

Each scan step leaves a `ScanSummary` in the Build resource (`results.buildStepOutputs`); the
gate re-applies the environment's own threshold to its counts (the step's `--fail-on` only
colours the build), counts again every advisory whose ignore has expired by `now`, and fails
closed: a step that is absent, left no summary, did not run or could not look at everything is
a failure with its reason. The report's location is where the build uploaded it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.domain.builds import Build
from shared.gates.evidence import Evidence
from shared.gates.settings import GateSettings
from shared.security.model import ScanSummary, at_or_above, expired

Outcome = tuple[bool, str, dict[str, Any]]


def _summary(gate: str, build: Build, ev: dict[str, Any]) -> ScanSummary | str:
    """The step's summary, or why there is none."""
    step = build.step(gate)
    ev["stepStatus"] = step.status if step else "absent"
    if step is None:
        return f"step {gate!r} is not in build {build.id}"
    try:
        raw = build.step_output(gate)
    except ValueError:  # not base64: what Cloud Build keeps is never that
        return f"step {gate!r} left an output that is not base64 in build {build.id}"
    if raw is None:
        return f"step {gate!r} ({step.status}) left no scan summary in build {build.id}"
    try:
        summary = ScanSummary.model_validate_json(raw)
    except ValidationError as exc:
        return f"step {gate!r} left an unreadable summary: {exc.error_count()} error(s)"
    if summary.kind != gate:
        return f"step {gate!r} reported a {summary.kind!r} scan"
    return summary


def _evidence(summary: ScanSummary, build: Build, ev: dict[str, Any]) -> None:
    ev.update(tool=summary.tool, scan=summary.status, counts=dict(summary.counts))
    if summary.report:
        ev["report"] = build.uploaded(summary.report) or summary.report
    worst = summary.worst()
    if worst is not None:
        ev["worst"] = worst.model_dump(exclude_none=True)
    if summary.ignored:
        ev["ignored"] = [i.model_dump(mode="json") for i in summary.ignored]
    if summary.components is not None:
        ev["components"] = summary.components
    if summary.truncated:
        ev["truncated"] = True


def _judge(gate: str, summary: ScanSummary, threshold: str, now: datetime) -> tuple[bool, str]:
    if summary.status == "not_run":
        return False, f"{gate} scan not run: {summary.reason or 'no reason given'}"
    if summary.errors:
        return False, f"{gate} scan incomplete: {summary.reason or summary.errors[0]}"
    if gate == "sbom":
        if summary.status != "passed":
            return False, f"sbom: {summary.reason or 'not produced'}"
        return True, f"sbom: {summary.components} components ({summary.tool})"
    counted = sum(n for sev, n in summary.counts.items() if at_or_above(sev, threshold))
    lapsed = expired(summary.ignored, now)
    problems: list[str] = []
    if counted:
        worst = summary.worst()
        named = worst.named() if worst else "?"
        problems.append(f"{counted} finding(s) at or above {threshold}; worst: {named}")
    problems += [
        f"ignore of {i.id} ({i.where}) expired {i.expires.isoformat()}: it blocks again"
        for i in lapsed
    ]
    if problems:
        return False, f"{gate}: " + "; ".join(problems)
    counts = ", ".join(f"{n} {sev}" for sev, n in summary.counts.items()) or "no findings"
    return True, f"{gate}: nothing at or above {threshold} ({counts})"


def scan_gate(gate: str, evidence: Evidence, s: GateSettings, now: datetime) -> Outcome:
    """(ok, detail, evidence) of one scan gate (`sast`, `dependencies`, `sbom`)."""
    build = evidence.ci
    if build is None:
        return False, evidence.ci_error or "no CI build found for this release", {}
    ev: dict[str, Any] = {"build": build.id, "buildStatus": build.status, "step": gate}
    found = _summary(gate, build, ev)
    if isinstance(found, str):
        return False, found, ev
    _evidence(found, build, ev)
    threshold = s.sast_fail_on if gate == "sast" else s.dependencies_fail_on
    if gate != "sbom":
        ev["failOn"] = threshold
    ok, detail = _judge(gate, found, threshold, now)
    if not ok and "report" in ev:
        detail += f" (report: {ev['report']})"
    return ok, detail, ev
