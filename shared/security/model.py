"""What a security scan step of the CI build reports, and how findings rank. Pure.

Each scan step (`releasectl security sast|deps|sbom`, `cloudbuild/ci.yaml`) writes its full
report as a build artifact and a compact `ScanSummary` (JSON) to `$BUILDER_OUTPUT/output`;
Cloud Build keeps that output in the Build resource (`results.buildStepOutputs`, one entry per
step), which is where the production gate reads it. The summary is capped to fit what Cloud
Build keeps (`SUMMARY_MAX_BYTES`): the worst findings first, the counts always complete.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical", "unknown"]
Threshold = Literal["low", "medium", "high", "critical"]
ScanStatus = Literal["passed", "failed", "not_run"]
ScanKind = Literal["sast", "dependencies", "sbom"]
# Severity -> rank. `unknown` (pip-audit reports no severity for an advisory) ranks above
# `critical`, so an advisory nobody rated blocks at any threshold: fail closed.
_RANK: dict[str, int] = {"low": 1, "medium": 2, "high": 3, "critical": 4, "unknown": 5}
SUMMARY_MAX_BYTES = 4000  # Cloud Build has kept 4 KB of a step's output (50 KB today)


def rank(severity: str) -> int:
    return _RANK.get(severity, _RANK["unknown"])


def at_or_above(severity: str, threshold: str) -> bool:
    return rank(severity) >= rank(threshold)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Finding(_Model):
    """One problem a tool found: a bandit test hit or a dependency advisory."""

    id: str  # bandit test id (B602) or advisory id (GHSA-…, PYSEC-…)
    severity: Severity
    title: str = Field(max_length=200)
    where: str  # file:line, or package==version
    fix: str | None = None  # fixed in (dependencies)

    def named(self) -> str:
        return f"{self.id} ({self.severity}) {self.title} at {self.where}"


class Ignored(_Model):
    """An advisory accepted in the reviewed ignore file, until `expires`."""

    id: str
    where: str
    expires: date
    reason: str = Field(max_length=200)


class ScanSummary(_Model):
    """One scan step's result, as the gate reads it."""

    kind: ScanKind
    tool: str  # e.g. "bandit 1.9.4"
    status: ScanStatus
    reason: str = ""  # why it failed or did not run
    errors: tuple[str, ...] = ()  # what the tool could not look at: the scan is incomplete
    fail_on: Threshold | None = None  # the step's own threshold (the gate applies its own)
    counts: dict[str, int] = Field(default_factory=dict)  # severity -> findings (complete)
    findings: tuple[Finding, ...] = ()  # worst first; may be cut to fit (`truncated`)
    ignored: tuple[Ignored, ...] = ()
    truncated: bool = False
    report: str = ""  # the full report's path in the workspace (uploaded as an artifact)
    components: int | None = None  # sbom: components listed
    scanned: int | None = None  # files (sast) or dependencies (dependencies) looked at

    def worst(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def headline(self) -> str:
        """One line: `sast passed (2 low)`, `sbom passed (72 components)`, `… not_run: why`."""
        if self.components is not None:
            what = f"{self.components} components"
        else:
            what = ", ".join(f"{n} {sev}" for sev, n in self.counts.items()) or "no findings"
        why = f": {self.reason}" if self.reason and self.status != "passed" else ""
        return f"{self.kind} {self.status} ({what}){why}"

    def to_output(self) -> bytes:
        """The JSON for `$BUILDER_OUTPUT/output`, findings cut (worst kept) to fit the cap."""
        summary = self
        while True:
            data = summary.model_dump_json(exclude_none=True).encode()
            if len(data) <= SUMMARY_MAX_BYTES or not summary.findings:
                return data
            summary = summary.model_copy(
                update={
                    "findings": summary.findings[: len(summary.findings) // 2],
                    "truncated": True,
                }
            )


def ordered(findings: list[Finding]) -> tuple[Finding, ...]:
    """Worst first, then by id and place, so the first one names the worst finding."""
    return tuple(sorted(findings, key=lambda f: (-rank(f.severity), f.id, f.where)))


def count(findings: list[Finding]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in findings:
        out[f.severity] = out.get(f.severity, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -rank(kv[0])))


def blocking(findings: tuple[Finding, ...] | list[Finding], threshold: str) -> list[Finding]:
    return [f for f in findings if at_or_above(f.severity, threshold)]


def expired(ignored: tuple[Ignored, ...], now: datetime) -> list[Ignored]:
    """Ignores whose expiry date has passed: their advisories block again."""
    return [i for i in ignored if i.expires < now.date()]
