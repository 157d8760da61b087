"""Each tool's JSON report -> a `ScanSummary`. Pure: the report and `now` are passed in.

Formats: bandit's `-f json` (`results`, `errors`, `metrics`), pip-audit's `-f json`
(`dependencies[]` with `vulns[]` or a `skip_reason`), CycloneDX JSON (`bomFormat`,
`components[]`). A report of the wrong shape is a `ReportError`, never an empty pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.errors import ControlPlaneError
from shared.security.ignores import AdvisoryIgnore, canonical, match
from shared.security.model import (
    Finding,
    Ignored,
    ScanStatus,
    ScanSummary,
    Severity,
    Threshold,
    blocking,
    count,
    ordered,
)

_BANDIT_SEVERITY: dict[str, Severity] = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}


class ReportError(ControlPlaneError):
    """A tool's report is not what the tool writes."""


def _list(report: Mapping[str, Any], key: str, tool: str) -> list[Any]:
    value = report.get(key)
    if not isinstance(value, list):
        raise ReportError(f"{tool} report: `{key}` must be a list, got {type(value).__name__}")
    return value


def _verdict(findings: list[Finding], fail_on: Threshold) -> tuple[ScanStatus, str]:
    bad = blocking(findings, fail_on)
    if not bad:
        return "passed", ""
    return (
        "failed",
        f"{len(bad)} finding(s) at or above {fail_on}; worst: {ordered(bad)[0].named()}",
    )


def bandit_summary(
    report: Mapping[str, Any], tool: str, fail_on: Threshold, path: str
) -> ScanSummary:
    """bandit's findings; a file it could not parse fails the scan (it was not looked at)."""
    findings: list[Finding] = []
    for r in _list(report, "results", "bandit"):
        findings.append(
            Finding(
                id=str(r["test_id"]),
                severity=_BANDIT_SEVERITY.get(str(r.get("issue_severity")), "unknown"),
                title=str(r.get("issue_text", ""))[:200],
                where=f"{r['filename']}:{r['line_number']}",
            )
        )
    errors = _list(report, "errors", "bandit") if "errors" in report else []
    status, reason = _verdict(findings, fail_on)
    problems = tuple(f"{e.get('filename', '?')}: {e.get('reason', '?')}"[:200] for e in errors[:5])
    if errors:
        status, reason = "failed", f"bandit could not scan {len(errors)} file(s): {problems[0]}"
    metrics = report.get("metrics", {})
    files = [k for k in metrics if k != "_totals"] if isinstance(metrics, dict) else []
    return ScanSummary(
        kind="sast",
        tool=tool,
        status=status,
        reason=reason,
        errors=problems,
        fail_on=fail_on,
        counts=count(findings),
        findings=ordered(findings),
        report=path,
        scanned=len(files),
    )


def _vuln_finding(dep: Mapping[str, Any], vuln: Mapping[str, Any]) -> Finding:
    fixes = [str(v) for v in vuln.get("fix_versions") or []]
    title = str(vuln.get("description") or "no description").replace("\n", " ")
    return Finding(
        id=str(vuln["id"]),
        severity="unknown",  # pip-audit's JSON carries no severity: rank it as blocking
        title=title[:200],
        where=f"{dep['name']}=={dep['version']}",
        fix=", ".join(fixes) or None,
    )


def pip_audit_summary(
    report: Mapping[str, Any],
    tool: str,
    fail_on: Threshold,
    path: str,
    ignores: list[AdvisoryIgnore],
    now: datetime,
) -> ScanSummary:
    """Advisories of the audited set; an ignore in force moves its advisory to `ignored`.

    A dependency the service could not answer for means the audit did not run for it: the
    summary is `not_run` with the reason (never `passed`), listing what was found elsewhere.
    """
    findings: list[Finding] = []
    ignored: list[Ignored] = []
    skipped: list[str] = []
    deps = _list(report, "dependencies", "pip-audit")
    for dep in deps:
        if "skip_reason" in dep:
            skipped.append(f"{dep.get('name')}: {dep['skip_reason']}")
            continue
        for vuln in dep.get("vulns") or []:
            finding = _vuln_finding(dep, vuln)
            ids = {finding.id, *(str(a) for a in vuln.get("aliases") or [])}
            accepted = match(ignores, ids, str(dep["name"]), now)
            if accepted is None:
                findings.append(finding)
            else:
                ignored.append(
                    Ignored(
                        id=finding.id,
                        where=finding.where,
                        expires=accepted.expires,
                        reason=accepted.reason[:200],
                    )
                )
    status, reason = _verdict(findings, fail_on)
    if skipped:
        status = "not_run"
        reason = (
            f"vulnerability service gave no answer for {len(skipped)} of {len(deps)} "
            f"dependencies (first: {skipped[0]})"
        )[:300]
    return ScanSummary(
        kind="dependencies",
        tool=tool,
        status=status,
        reason=reason,
        fail_on=fail_on,
        counts=count(findings),
        findings=ordered(findings),
        ignored=tuple(ignored),
        report=path,
        scanned=len(deps),
    )


def deployed_only(bom: Mapping[str, Any], deployed: set[str]) -> dict[str, Any]:
    """The BOM narrowed to `deployed` packages (canonical names): their components, and the
    dependency graph between them and the root component."""
    components = [
        c for c in _list(bom, "components", "SBOM") if canonical(str(c.get("name"))) in deployed
    ]
    root = bom.get("metadata", {}).get("component", {}).get("bom-ref")
    kept = {c.get("bom-ref") for c in components} | {root}
    graph = [
        {**d, "dependsOn": [r for r in d.get("dependsOn", []) if r in kept]}
        for d in bom.get("dependencies", [])
        if d.get("ref") in kept
    ]
    return {**bom, "components": components, "dependencies": graph}


def sbom_summary(bom: Mapping[str, Any], tool: str, path: str) -> ScanSummary:
    """A CycloneDX document that lists the components; anything else fails."""
    if bom.get("bomFormat") != "CycloneDX":
        raise ReportError(f"SBOM: bomFormat is {bom.get('bomFormat')!r}, expected 'CycloneDX'")
    components = _list(bom, "components", "SBOM") if "components" in bom else []
    spec = bom.get("specVersion", "?")
    ok = bool(components)
    return ScanSummary(
        kind="sbom",
        tool=f"{tool} (CycloneDX {spec})",
        status="passed" if ok else "failed",
        reason="" if ok else "the SBOM lists no components",
        report=path,
        components=len(components),
    )
