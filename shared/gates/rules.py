"""Pure gate evaluation: evidence in, one `CheckResult` per gate out. No I/O, `now` is passed.

A gate fails closed: missing evidence, a placeholder document or an endpoint that does not
answer is a failure with the reason, never a pass. `required` comes from the env's settings;
a failing gate that is not required is a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.domain.builds import Build
from shared.domain.messages import CheckResult, StepReport
from shared.gates.evidence import Evidence, Probe
from shared.gates.scans import scan_gate
from shared.gates.settings import COMPLIANCE_ITEMS, SCAN_GATES, GateSettings

Doc = Mapping[str, Any]
Problems = list[str]
# gates whose endpoint must be configured and answer (the others check it only if configured)
NEEDS_ENDPOINT = frozenset({"dataExport", "dataDeletion"})


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _terms(doc: Doc, s: GateSettings, now: datetime) -> Problems:
    problems: Problems = []
    if not isinstance(doc.get("version"), str) or not doc["version"]:
        problems.append("no `version` recorded")
    when = _as_datetime(doc.get("versionDate"))
    if when is None:
        problems.append("no valid `versionDate` recorded")
    elif when > now:
        problems.append(f"versionDate {when.date().isoformat()} is in the future")
    elif now - when > timedelta(days=s.terms_max_age_days):
        problems.append(
            f"version of {when.date().isoformat()} is older than {s.terms_max_age_days} days"
        )
    return problems


def _privacy(doc: Doc, s: GateSettings, now: datetime) -> Problems:
    sections = doc.get("sections")
    if not isinstance(sections, list):
        return ["no `sections` list recorded"]
    missing = [x for x in s.privacy_sections if x not in sections]
    return [f"missing GDPR section(s): {', '.join(missing)}"] if missing else []


def _age(doc: Doc, s: GateSettings, now: datetime) -> Problems:
    problems = [] if doc.get("enabled") is True else ["age gate not `enabled`"]
    age = doc.get("minimumAge")
    if not isinstance(age, int) or isinstance(age, bool) or age < s.minimum_age:
        problems.append(f"minimumAge is {age!r}, must be at least {s.minimum_age}")
    return problems


def _kyc(doc: Doc, s: GateSettings, now: datetime) -> Problems:
    problems: Problems = []
    if not isinstance(doc.get("provider"), str) or not doc["provider"]:
        problems.append("no KYC `provider` named")
    if doc.get("active") is not True:
        problems.append("provider not `active`")
    if doc.get("configured") is not True:
        problems.append("provider not `configured`")
    if s.kyc_mode is not None and doc.get("mode") != s.kyc_mode:
        problems.append(f"mode is {doc.get('mode')!r}, this environment needs {s.kyc_mode!r}")
    return problems


def _enabled(what: str) -> Callable[[Doc, GateSettings, datetime], Problems]:
    def check(doc: Doc, s: GateSettings, now: datetime) -> Problems:
        return [] if doc.get("enabled") is True else [f"{what} not `enabled`"]

    return check


def _nothing(doc: Doc, s: GateSettings, now: datetime) -> Problems:
    return []


_ITEM_RULES: dict[str, Callable[[Doc, GateSettings, datetime], Problems]] = {
    "termsOfService": _terms,
    "privacyPolicy": _privacy,
    "ageGate": _age,
    "kycProvider": _kyc,
    "contentModeration": _enabled("content moderation"),
    "refundPolicy": _nothing,
    "dataExport": _enabled("data export"),
    "dataDeletion": _enabled("data deletion"),
    "cookieConsent": _enabled("cookie consent"),
}
# fields copied into the evidence (never the whole document: it may hold anything)
_EVIDENCE_FIELDS = (
    "status",
    "verified",
    "evidenceUrl",
    "version",
    "versionDate",
    "sections",
    "enabled",
    "minimumAge",
    "provider",
    "active",
    "configured",
    "mode",
    "verifiedBy",
    "verifiedAt",
)


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _probe_problems(gate: str, probe: Probe | None, s: GateSettings) -> Problems:
    endpoint = s.endpoints.get(gate)  # type: ignore[call-overload]
    if endpoint is None:
        return ["no endpoint configured in checks.toml"] if gate in NEEDS_ENDPOINT else []
    if probe is None:
        return [f"{endpoint.method} {endpoint.path} was not probed"]
    if probe.error is not None:
        return [f"{probe.method} {probe.url} did not answer: {probe.error}"]
    if probe.status not in endpoint.statuses:
        want = "/".join(str(x) for x in endpoint.statuses)
        return [f"{probe.method} {probe.url} answered {probe.status}, expected {want}"]
    return []


def compliance_gate(
    item: str, evidence: Evidence, s: GateSettings, now: datetime
) -> tuple[bool, str, dict[str, Any]]:
    """(ok, detail, evidence) of one compliance item."""
    doc = evidence.docs.get(item)
    ev: dict[str, Any] = {"document": f"compliance/{item}"}
    probe = evidence.probes.get(item)
    if probe is not None:
        ev["http"] = probe.as_evidence()
    if evidence.docs_error is not None:
        return False, f"evidence unreadable: {evidence.docs_error}", ev
    if doc is None:
        return False, f"compliance/{item} does not exist", ev
    ev["fields"] = {k: _plain(doc[k]) for k in _EVIDENCE_FIELDS if k in doc}
    problems: Problems = []
    if doc.get("verified") is not True or doc.get("status") == "placeholder":
        problems.append(f"not verified (status {doc.get('status')!r})")
    problems += _ITEM_RULES[item](doc, s, now)
    problems += _probe_problems(item, probe, s)
    if problems:
        return False, "; ".join(problems), ev
    return True, "verified" + (f"; {probe.url} answered {probe.status}" if probe else ""), ev


def ci_gate(
    gate: str, steps: tuple[str, ...], evidence: Evidence
) -> tuple[bool, str, dict[str, Any]]:
    """Each named step of the app's CI build ran and succeeded (an allowed failure is a fail)."""
    build: Build | None = evidence.ci
    if build is None:
        return False, evidence.ci_error or "no CI build found for this release", {}
    ev: dict[str, Any] = {"build": build.id, "buildStatus": build.status, "commit": build.commit}
    if build.log_url:
        ev["logUrl"] = build.log_url
    problems: Problems = []
    if build.status != "SUCCESS":
        problems.append(f"build {build.id} ended {build.status}")
    seen: dict[str, str] = {}
    for name in steps:
        step = build.step(name)
        seen[name] = step.status if step else "absent"
        if step is None:
            problems.append(f"step {name!r} is not in build {build.id}")
        elif step.status != "SUCCESS":
            problems.append(f"step {name!r} ended {step.status}")
    ev["steps"] = seen
    if problems:
        return False, "; ".join(problems), ev
    return True, f"build {build.id}: {', '.join(steps)} succeeded", ev


def evaluate(s: GateSettings, evidence: Evidence, now: datetime) -> tuple[CheckResult, ...]:
    """Every gate in `s.run` except `secrets` (its own runner), in order."""
    out: list[CheckResult] = []
    for gate in s.run:
        if gate in COMPLIANCE_ITEMS:
            ok, detail, ev = compliance_gate(gate, evidence, s, now)
        elif gate == "ciTests":
            ok, detail, ev = ci_gate(gate, s.ci_test_steps, evidence)
        elif gate == "ciSecurityScan":
            ok, detail, ev = ci_gate(gate, s.ci_scan_steps, evidence)
        elif gate in SCAN_GATES:
            ok, detail, ev = scan_gate(gate, evidence, s, now)
        else:
            continue
        required = gate in s.required
        out.append(CheckResult(name=gate, ok=ok, required=required, detail=detail, evidence=ev))
    return tuple(out)


def report(env: str, checks: tuple[CheckResult, ...]) -> StepReport:
    """The gates as one step: it fails if any required gate failed; warnings never block."""
    failed = [c.name for c in checks if c.required and not c.ok]
    warned = [c.name for c in checks if not c.required and not c.ok]
    summary = f"gates ({env}): {len(checks)} checked, {len(failed)} failed"
    if failed:
        summary += f" ({', '.join(failed)})"
    if warned:
        summary += f", {len(warned)} warning(s) ({', '.join(warned)})"
    return StepReport(ran=True, ok=not failed, summary=summary, checks=checks)
