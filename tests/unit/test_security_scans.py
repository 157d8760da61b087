"""The CI build's security scans: each tool's recorded report read into a summary, and what
production's `sast`, `dependencies` and `sbom` gates make of it per severity and config."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.domain.builds import Build, Results
from shared.errors import ConfigError
from shared.gates import rules
from shared.gates.evidence import Evidence
from shared.gates.settings import GateSettings
from shared.security.ignores import AdvisoryIgnore, load_ignores
from shared.security.model import SUMMARY_MAX_BYTES, Finding, ScanSummary
from shared.security.reports import (
    ReportError,
    bandit_summary,
    deployed_only,
    pip_audit_summary,
    sbom_summary,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "security"
ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LOCATION = "gs://${_REPORTS_BUCKET}/ci/${BUILD_ID}/"
SCANS = ("sast", "dependencies", "sbom")


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def jinja_ignore(expires: date) -> AdvisoryIgnore:
    return AdvisoryIgnore(
        id="GHSA-g3rq-g295-4j3m",
        package="Jinja2",
        reason="urlize is never called on user input in the functions",
        reviewed_by="security@avalo",
        reviewed_on=date(2026, 10, 1),
        expires=expires,
    )


def sast(fail_on: Any = "medium") -> ScanSummary:
    return bandit_summary(recorded("bandit-shell-true.json"), "bandit 1.9.4", fail_on, "x")


def deps(ignores: list[AdvisoryIgnore] | None = None, now: datetime = NOW) -> ScanSummary:
    report = recorded("pip-audit-jinja2.json")
    return pip_audit_summary(
        report, "pip-audit", "low", "reports/pip-audit.json", ignores or [], now
    )


def sbom() -> ScanSummary:
    return sbom_summary(
        recorded("sbom-two-components.cdx.json"), "cyclonedx-bom", "reports/sbom.cdx.json"
    )


# -- reading each tool's report ------------------------------------------------------------


def test_bandit_report_counts_by_severity_and_names_the_worst_finding() -> None:
    s = sast()
    assert s.counts == {"high": 1, "low": 1}
    worst = s.worst()
    assert worst is not None and (worst.id, worst.severity) == ("B602", "high")
    assert worst.where == "shared/planted.py:5" and "shell=True" in worst.title
    assert s.status == "failed" and "B602" in s.reason and s.scanned == 1


def test_bandit_findings_below_the_steps_threshold_pass_the_step() -> None:
    assert sast("critical").status == "passed"


def test_a_file_bandit_could_not_parse_makes_the_scan_incomplete() -> None:
    report = recorded("bandit-shell-true.json")
    report["errors"] = [{"filename": "shared/broken.py", "reason": "syntax error"}]
    s = bandit_summary(report, "bandit", "critical", "x")
    assert s.status == "failed" and s.errors == ("shared/broken.py: syntax error",)


def test_a_report_of_the_wrong_shape_is_an_error_not_an_empty_pass() -> None:
    with pytest.raises(ReportError, match="results"):
        bandit_summary({"results": "none"}, "bandit", "low", "x")
    with pytest.raises(ReportError, match="bomFormat"):
        sbom_summary({"bomFormat": "SPDX"}, "cyclonedx-bom", "x")


def test_pip_audit_advisory_has_no_severity_so_it_ranks_as_blocking() -> None:
    s = deps()
    assert s.counts == {"unknown": 1} and s.status == "failed"
    worst = s.worst()
    assert worst is not None
    assert (worst.id, worst.where, worst.fix) == ("PYSEC-2021-66", "jinja2==2.11.2", "2.11.3")


def test_an_unreachable_service_is_not_run_with_the_reason_never_passed() -> None:
    report = recorded("pip-audit-unreachable.json")
    s = pip_audit_summary(report, "pip-audit", "low", "r", [], NOW)
    assert s.status == "not_run"
    assert "no answer for 2 of 2 dependencies" in s.reason and "annotated-doc" in s.reason


def test_an_ignore_in_force_matches_an_alias_and_moves_the_advisory_aside() -> None:
    s = deps([jinja_ignore(date(2027, 1, 31))])
    assert s.status == "passed" and s.counts == {}
    assert [(i.id, i.where) for i in s.ignored] == [("PYSEC-2021-66", "jinja2==2.11.2")]


def test_an_expired_ignore_counts_the_advisory_again_at_scan_time() -> None:
    s = deps([jinja_ignore(date(2026, 11, 24))])
    assert s.status == "failed" and s.ignored == ()


def test_sbom_lists_its_components() -> None:
    s = sbom()
    assert s.status == "passed" and s.components == 2 and "CycloneDX 1.6" in s.tool


def test_the_sbom_keeps_only_the_deployed_packages_and_their_graph() -> None:
    bom = {
        "bomFormat": "CycloneDX",
        "metadata": {"component": {"bom-ref": "root"}},
        "components": [
            {"bom-ref": "Jinja2==3.1.6", "name": "Jinja2"},
            {"bom-ref": "MarkupSafe==3.0.2", "name": "MarkupSafe"},
            {"bom-ref": "pytest==9.2.0", "name": "pytest"},
        ],
        "dependencies": [
            {"ref": "root", "dependsOn": ["Jinja2==3.1.6", "pytest==9.2.0"]},
            {"ref": "Jinja2==3.1.6", "dependsOn": ["MarkupSafe==3.0.2"]},
            {"ref": "pytest==9.2.0", "dependsOn": ["pluggy==1.6.0"]},
        ],
    }
    narrowed = deployed_only(bom, {"jinja2", "markupsafe"})
    assert [c["name"] for c in narrowed["components"]] == ["Jinja2", "MarkupSafe"]
    assert narrowed["dependencies"] == [
        {"ref": "root", "dependsOn": ["Jinja2==3.1.6"]},
        {"ref": "Jinja2==3.1.6", "dependsOn": ["MarkupSafe==3.0.2"]},
    ]
    assert sbom_summary(narrowed, "cyclonedx-bom", "x").components == 2


def test_summary_fits_cloud_builds_step_output_keeping_counts_and_the_worst() -> None:
    many = [
        Finding(id=f"B{n:03}", severity="low", title="t" * 150, where=f"f.py:{n}")
        for n in range(100)
    ]
    worst = Finding(id="B602", severity="high", title="shell", where="a.py:1")
    s = ScanSummary(
        kind="sast",
        tool="bandit",
        status="failed",
        counts={"high": 1, "low": 100},
        findings=(worst, *many),
    )
    data = s.to_output()
    assert len(data) <= SUMMARY_MAX_BYTES
    back = ScanSummary.model_validate_json(data)
    assert back.truncated and back.counts == {"high": 1, "low": 100} and back.worst() == worst


# -- the ignore file -----------------------------------------------------------------------


def test_an_ignore_needs_a_reason_a_reviewer_and_an_expiry(tmp_path: Path) -> None:
    path = tmp_path / "ignores.toml"
    path.write_text('[[ignore]]\nid = "GHSA-1"\npackage = "x"\nreason = "no"\n')
    with pytest.raises(ConfigError, match=r"ignores\.toml: ignore\.0\.reason"):
        load_ignores(path)


def test_an_ignore_longer_than_a_year_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ignores.toml"
    path.write_text(
        '[[ignore]]\nid = "GHSA-1"\npackage = "x"\nreason = "not reachable from our code"\n'
        'reviewed_by = "me"\nreviewed_on = 2026-01-01\nexpires = 2028-01-01\n'
    )
    with pytest.raises(ConfigError, match=r"ignore\.0\.expires: more than 366 days"):
        load_ignores(path)


def test_the_shipped_ignore_file_is_valid() -> None:
    load_ignores(ROOT / "config" / "advisory-ignores.toml")


def test_every_accepted_bandit_finding_is_justified_inline() -> None:
    """`# nosec` names the test it accepts and says why (`# nosec B603 -- reason`)."""
    bare = []
    for folder in ("shared", "functions", "migrations"):
        for path in (ROOT / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if "# nosec" in line and not re.search(r"# nosec B\d{3}(, B\d{3})* -- \S", line):
                    bare.append(f"{path.relative_to(ROOT)}:{n}")
    assert bare == []


# -- the gates -----------------------------------------------------------------------------


def build(*summaries: ScanSummary | None, status: str = "SUCCESS") -> Build:
    steps = [{"id": kind, "status": status} for kind in SCANS[: len(summaries)]]
    outputs = [base64.b64encode(s.to_output()).decode() if s else "" for s in summaries]
    return Build.model_validate(
        {
            "id": "b-7",
            "status": "SUCCESS",
            "projectId": "ctl",
            "substitutions": {"COMMIT_SHA": "abc", "_REPORTS_BUCKET": "${PROJECT_ID}-reports"},
            "steps": steps,
            "results": {"buildStepOutputs": outputs},
            "artifacts": {"objects": {"location": LOCATION, "paths": ["reports/*"]}},
        }
    )


PROD = GateSettings(run=SCANS, required=SCANS)  # type: ignore[arg-type]


def gates(ci: Build | None, s: GateSettings = PROD, now: datetime = NOW) -> dict[str, Any]:
    return {c.name: c for c in rules.evaluate(s, Evidence(ci=ci), now)}


def test_a_high_finding_fails_sast_naming_it_and_where_the_report_is() -> None:
    check = gates(build(sast()))["sast"]
    assert not check.ok and check.required
    assert "1 finding(s) at or above medium" in check.detail
    assert "B602 (high) subprocess call with shell=True" in check.detail
    assert "shared/planted.py:5" in check.detail
    assert check.evidence["report"] == "gs://ctl-reports/ci/b-7/x"
    assert check.evidence["counts"] == {"high": 1, "low": 1}
    assert check.evidence["worst"]["id"] == "B602"


@pytest.mark.parametrize(
    ("fail_on", "ok"), [("low", False), ("medium", False), ("high", False), ("critical", True)]
)
def test_the_envs_threshold_decides_not_the_steps(fail_on: str, ok: bool) -> None:
    settings = GateSettings(run=SCANS, required=SCANS, sast_fail_on=fail_on)  # type: ignore[arg-type]
    assert gates(build(sast("critical")), settings)["sast"].ok is ok


def test_a_scan_that_was_not_run_fails_its_gate_with_the_reason() -> None:
    report = recorded("pip-audit-unreachable.json")
    unreachable = pip_audit_summary(report, "pip-audit", "low", "r", [], NOW)
    check = gates(build(sast("critical"), unreachable))["dependencies"]
    assert not check.ok and "dependencies scan not run: vulnerability service" in check.detail


def test_a_not_required_scan_gate_is_a_warning() -> None:
    report = recorded("pip-audit-unreachable.json")
    unreachable = pip_audit_summary(report, "pip-audit", "low", "r", [], NOW)
    settings = GateSettings(run=SCANS, required=("sast", "sbom"), sast_fail_on="critical")
    checks = rules.evaluate(
        settings, Evidence(ci=build(sast("critical"), unreachable, sbom())), NOW
    )
    report_ = rules.report("production", checks)
    assert report_.ok and "1 warning(s) (dependencies)" in report_.summary


def test_an_ignore_that_expires_after_the_build_blocks_again_at_the_gate() -> None:
    accepted = deps([jinja_ignore(date(2026, 12, 31))])
    ci = build(sast("critical"), accepted, sbom())
    assert gates(ci)["dependencies"].ok
    later = gates(ci, now=datetime(2027, 1, 1, tzinfo=UTC))["dependencies"]
    assert not later.ok
    assert "ignore of PYSEC-2021-66 (jinja2==2.11.2) expired 2026-12-31" in later.detail


def test_sbom_gate_passes_with_the_components_and_links_the_document() -> None:
    check = gates(build(sast("critical"), deps(), sbom()))["sbom"]
    assert check.ok and check.detail.startswith("sbom: 2 components")
    assert check.evidence["report"] == "gs://ctl-reports/ci/b-7/sbom.cdx.json"


def test_a_missing_step_or_summary_fails_closed() -> None:
    found = gates(build(None))
    assert "step 'sast' (SUCCESS) left no scan summary in build b-7" in found["sast"].detail
    assert found["dependencies"].detail == "step 'dependencies' is not in build b-7"
    assert gates(None)["sbom"].detail == "no CI build found for this release"


def test_a_summary_of_another_scan_or_garbage_fails() -> None:
    wrong = gates(build(sbom()))["sast"]
    assert not wrong.ok and "reported a 'sbom' scan" in wrong.detail
    garbage = Build.model_validate(
        {
            "id": "b",
            "status": "SUCCESS",
            "steps": [{"id": "sast", "status": "FAILURE"}],
            "results": {"buildStepOutputs": [base64.b64encode(b'{"kind": 1}').decode()]},
        }
    )
    assert "unreadable summary" in gates(garbage)["sast"].detail
    not_base64 = garbage.model_copy(update={"results": Results(build_step_outputs=["@@"])})
    assert "not base64" in gates(not_base64)["sast"].detail
