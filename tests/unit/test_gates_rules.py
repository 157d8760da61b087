"""Gate evaluation, table-driven: what each piece of evidence makes of each gate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.builds import Build
from shared.errors import ControlPlaneError
from shared.gates import rules
from shared.gates.demo_evidence import demo_evidence, write_demo_evidence
from shared.gates.evidence import Evidence, Probe
from shared.gates.settings import COMPLIANCE_ITEMS, EndpointCheck, GateSettings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SECTIONS = ["controller", "purposes", "legalBasis", "retention", "rights", "transfers", "contact"]


def good_docs() -> dict[str, dict[str, Any]]:
    base = {"verified": True, "status": "verified", "evidenceUrl": "https://x/y"}
    extra: dict[str, dict[str, Any]] = {
        "termsOfService": {"version": "3.1", "versionDate": "2026-06-01"},
        "privacyPolicy": {"sections": SECTIONS},
        "ageGate": {"enabled": True, "minimumAge": 18},
        "kycProvider": {"provider": "onfido", "active": True, "configured": True, "mode": "live"},
        "contentModeration": {"enabled": True, "provider": "hive"},
        "refundPolicy": {},
        "dataExport": {"enabled": True},
        "dataDeletion": {"enabled": True},
        "cookieConsent": {"enabled": True},
    }
    return {item: {**base, **extra[item]} for item in COMPLIANCE_ITEMS}


ENDPOINTS = {
    "dataExport": EndpointCheck(path="/export", statuses=(200, 401)),
    "dataDeletion": EndpointCheck(path="/me", method="OPTIONS", statuses=(204,)),
}
PROBES = {
    "dataExport": Probe("http://app/export", "GET", status=401, latency_ms=3.0),
    "dataDeletion": Probe("http://app/me", "OPTIONS", status=204, latency_ms=3.0),
}
ALL_REQUIRED = GateSettings(
    run=(*COMPLIANCE_ITEMS, "ciTests", "ciSecurityScan"),  # type: ignore[arg-type]
    required=(*COMPLIANCE_ITEMS, "ciTests", "ciSecurityScan"),  # type: ignore[arg-type]
    endpoints=ENDPOINTS,  # type: ignore[arg-type]
    kyc_mode="live",
)


def ci_build(**changes: Any) -> Build:
    raw: dict[str, Any] = {
        "id": "b-1",
        "status": "SUCCESS",
        "tags": ["ci"],
        "substitutions": {"COMMIT_SHA": "abc"},
        "steps": [
            {"id": "unit-tests", "status": "SUCCESS"},
            {"id": "secret-scan", "status": "SUCCESS"},
        ],
        **changes,
    }
    return Build.model_validate(raw)


def evidence(docs: dict[str, Any] | None = None, **kw: Any) -> Evidence:
    values: dict[str, Any] = {"docs": good_docs() if docs is None else docs, "probes": PROBES}
    values["ci"] = ci_build()
    values.update(kw)
    return Evidence(**values)


def by_name(ev: Evidence, s: GateSettings = ALL_REQUIRED) -> dict[str, Any]:
    return {c.name: c for c in rules.evaluate(s, ev, NOW)}


def test_complete_evidence_passes_every_gate() -> None:
    checks = rules.evaluate(ALL_REQUIRED, evidence(), NOW)
    assert [c.name for c in checks] == [*COMPLIANCE_ITEMS, "ciTests", "ciSecurityScan"]
    assert all(c.ok and c.required for c in checks), [c.detail for c in checks if not c.ok]
    report = rules.report("production", checks)
    assert report.ran and report.ok and report.failures() == []


def _doc_change(item: str, **fields: Any) -> dict[str, Any]:
    docs = good_docs()
    docs[item] = {**docs[item], **fields}
    return docs


def _without(item: str, field: str) -> dict[str, Any]:
    docs = good_docs()
    docs[item] = {k: v for k, v in docs[item].items() if k != field}
    return docs


MIGRATION_PLACEHOLDER = {"status": "placeholder", "verified": False, "evidenceUrl": None}


@pytest.mark.parametrize(
    ("item", "docs", "reason"),
    [
        ("termsOfService", {**good_docs(), "termsOfService": None}, "does not exist"),
        ("termsOfService", _doc_change("termsOfService", **MIGRATION_PLACEHOLDER), "not verified"),
        ("termsOfService", _without("termsOfService", "version"), "no `version`"),
        ("termsOfService", _doc_change("termsOfService", versionDate="2027-01-01"), "future"),
        ("termsOfService", _doc_change("termsOfService", versionDate="2020-01-01"), "older than"),
        ("termsOfService", _doc_change("termsOfService", versionDate="soon"), "no valid"),
        (
            "privacyPolicy",
            _doc_change("privacyPolicy", sections=SECTIONS[:-2]),
            "transfers, contact",
        ),
        ("privacyPolicy", _without("privacyPolicy", "sections"), "no `sections`"),
        ("ageGate", _doc_change("ageGate", minimumAge=16), "at least 18"),
        ("ageGate", _doc_change("ageGate", minimumAge=True), "at least 18"),
        ("ageGate", _doc_change("ageGate", enabled=False), "not `enabled`"),
        ("kycProvider", _doc_change("kycProvider", active=False), "not `active`"),
        ("kycProvider", _doc_change("kycProvider", configured=None), "not `configured`"),
        ("kycProvider", _doc_change("kycProvider", provider=""), "no KYC `provider`"),
        ("kycProvider", _doc_change("kycProvider", mode="sandbox"), "needs 'live'"),
        ("contentModeration", _doc_change("contentModeration", enabled="yes"), "not `enabled`"),
        ("cookieConsent", _without("cookieConsent", "enabled"), "not `enabled`"),
        ("dataExport", _doc_change("dataExport", enabled=False), "not `enabled`"),
        ("refundPolicy", _doc_change("refundPolicy", verified="true"), "not verified"),
    ],
)
def test_a_gate_fails_with_its_reason(item: str, docs: dict[str, Any], reason: str) -> None:
    checks = by_name(evidence(docs))
    assert not checks[item].ok
    assert reason in checks[item].detail
    assert [n for n, c in checks.items() if not c.ok] == [item]  # nothing else is affected


@pytest.mark.parametrize(
    ("probe", "reason"),
    [
        (Probe("http://app/export", "GET", error="no answer within 5s"), "did not answer"),
        (Probe("http://app/export", "GET", status=404, latency_ms=1), "answered 404"),
        (Probe("http://app/export", "GET", status=500, latency_ms=1), "expected 200/401"),
        (None, "was not probed"),
    ],
)
def test_an_endpoint_that_does_not_answer_fails_its_gate(probe: Probe | None, reason: str) -> None:
    probes = {**PROBES}
    if probe is None:
        del probes["dataExport"]
    else:
        probes["dataExport"] = probe
    check = by_name(evidence(probes=probes))["dataExport"]
    assert not check.ok and reason in check.detail


def test_data_export_without_a_configured_endpoint_fails() -> None:
    settings = ALL_REQUIRED.model_copy(update={"endpoints": {}})
    check = by_name(evidence(probes={}), settings)["dataExport"]
    assert not check.ok and "no endpoint configured" in check.detail


@pytest.mark.parametrize(
    ("ci", "ci_error", "gate", "reason"),
    [
        (None, None, "ciTests", "no CI build found"),
        (None, "CI build unreadable: boom", "ciSecurityScan", "unreadable: boom"),
        (ci_build(status="FAILURE"), None, "ciTests", "ended FAILURE"),
        # a status newer than the ones the rollout knows: read, and a failure that names it
        (ci_build(status="PAUSED"), None, "ciTests", "build b-1 ended PAUSED"),
        (
            ci_build(steps=[{"id": "unit-tests", "status": "CANCELLED"}]),
            None,
            "ciTests",
            "'unit-tests' ended CANCELLED",
        ),
        (
            ci_build(steps=[{"id": "unit-tests", "status": "SUCCESS"}]),
            None,
            "ciSecurityScan",
            "'secret-scan' is not in build",
        ),
    ],
)
def test_ci_gates_read_the_build_steps(
    ci: Build | None, ci_error: str | None, gate: str, reason: str
) -> None:
    check = by_name(evidence(ci=ci, ci_error=ci_error))[gate]
    assert not check.ok and reason in check.detail


def test_evidence_names_the_build_and_each_step() -> None:
    check = by_name(evidence())["ciTests"]
    assert check.evidence == {
        "build": "b-1",
        "buildStatus": "SUCCESS",
        "commit": "abc",
        "steps": {"unit-tests": "SUCCESS"},
    }


def test_unreadable_firestore_fails_every_compliance_gate() -> None:
    checks = by_name(evidence(docs={}, docs_error="PermissionDenied: no"))
    assert all(not checks[i].ok and "unreadable" in checks[i].detail for i in COMPLIANCE_ITEMS)
    assert checks["ciTests"].ok


def test_a_gate_not_required_is_a_warning_that_never_blocks() -> None:
    settings = GateSettings(required=("ciTests",), endpoints=ENDPOINTS)  # type: ignore[arg-type]
    docs = {i: None for i in COMPLIANCE_ITEMS}
    report = rules.report("staging", rules.evaluate(settings, evidence(docs), NOW))
    assert report.ok and report.ran
    assert "12 warning(s)" in report.summary  # the nine items and the three scans (no summary)
    failing = rules.report("staging", rules.evaluate(settings, evidence(docs, ci=None), NOW))
    assert not failing.ok
    assert failing.failures() == ["ciTests: no CI build found for this release"]


def test_only_the_gates_in_run_are_evaluated() -> None:
    settings = GateSettings(run=("ageGate", "ciTests"), required=("ageGate",))
    assert [c.name for c in rules.evaluate(settings, evidence(), NOW)] == ["ageGate", "ciTests"]


def test_evidence_copies_known_fields_only() -> None:
    docs = _doc_change("ageGate", internalNote="do not copy")
    check = by_name(evidence(docs))["ageGate"]
    assert "internalNote" not in check.evidence["fields"]
    assert check.evidence["fields"]["minimumAge"] == 18
    assert check.evidence["document"] == "compliance/ageGate"


def test_the_demo_evidence_passes_every_compliance_gate() -> None:
    docs = {p.removeprefix("compliance/"): d for p, d in demo_evidence(NOW).items()}
    checks = by_name(evidence(docs))
    assert all(checks[i].ok for i in COMPLIANCE_ITEMS), [c.detail for c in checks.values()]


def test_demo_evidence_is_refused_outside_demo_projects() -> None:
    class Db:
        project = "avalo-prod"

    with pytest.raises(ControlPlaneError, match="only into demo- projects"):
        write_demo_evidence(Db(), NOW)
