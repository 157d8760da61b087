"""The scan steps as the CI build runs them (`releasectl security …`), and what a release made
by a CI build links."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli import app
from shared.domain.builds import Build, CiOrigin
from shared.domain.workflow import ci_release
from shared.security.model import ScanSummary
from shared.security.steps import runtime_closure

DATA = Path(__file__).resolve().parents[1] / "data" / "security"
SHA = "ab" * 20


def releasectl(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["security", *args], env={"COLUMNS": "300", **(env or {})})
    return result.exit_code, result.output


def test_the_audited_set_is_what_the_functions_deploy_with_not_the_dev_tools() -> None:
    deployed = runtime_closure()
    assert "google-cloud-firestore" in deployed and "pydantic-core" in deployed  # transitive
    assert not {"pytest", "mypy", "bandit", "pip-audit"} & set(deployed)
    assert "release-control-plane" not in deployed


def test_a_recorded_advisory_fails_the_step_and_leaves_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "builder-output"
    code, text = releasectl(
        "deps",
        "--workspace",
        str(tmp_path),
        "--recorded",
        str(DATA / "pip-audit-jinja2.json"),
        env={"BUILDER_OUTPUT": str(out)},
    )
    assert code == 1, text
    assert "PYSEC-2021-66" in text and "jinja2==2.11.2" in text
    summary = ScanSummary.model_validate_json((out / "output").read_bytes())
    assert summary.kind == "dependencies" and summary.status == "failed"
    assert (tmp_path / "reports" / "requirements.lock.txt").read_text().count("==") > 10
    assert json.loads((tmp_path / "reports" / "pip-audit.json").read_text())["dependencies"]


def test_an_unreachable_service_exits_1_as_not_run(tmp_path: Path) -> None:
    recorded = DATA / "pip-audit-unreachable.json"
    code, text = releasectl("deps", "--workspace", str(tmp_path), "--recorded", str(recorded))
    assert code == 1 and "dependencies not_run" in text and "no answer" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sast", "--fail-on", "severe"], "'severe': use one of low, medium, high, critical"),
        (["deps", "--service", "nvd"], "'nvd': use pypi or osv"),
    ],
)
def test_bad_options_exit_2_naming_them(args: list[str], message: str) -> None:
    code, text = releasectl(*args)
    assert code == 2 and message in text


def test_a_broken_ignore_file_exits_2_and_scans_nothing(tmp_path: Path) -> None:
    ignores = tmp_path / "ignores.toml"
    ignores.write_text('[[ignore]]\nid = "GHSA-1"\n')
    code, text = releasectl("deps", "--workspace", str(tmp_path), "--ignores", str(ignores))
    assert code == 2 and "ignore.0.package" in text
    assert not (tmp_path / "reports").exists()


def ci_build(sbom_status: str) -> Build:
    return Build.model_validate(
        {
            "id": "b-9",
            "status": "SUCCESS",
            "projectId": "ctl",
            "tags": ["ci"],
            "substitutions": {
                "BRANCH_NAME": "release/4.0.0",
                "COMMIT_SHA": SHA,
                "_REPORTS_BUCKET": "${PROJECT_ID}-ci-reports",
            },
            "steps": [{"id": "sast", "status": "FAILURE"}, {"id": "sbom", "status": sbom_status}],
            "artifacts": {"objects": {"location": "gs://${_REPORTS_BUCKET}/ci/${BUILD_ID}/"}},
            "results": {"buildStepOutputs": [base64.b64encode(b"{}").decode(), ""]},
        }
    )


def test_a_release_from_ci_links_its_build_and_its_sbom() -> None:
    plan = ci_release(ci_build("SUCCESS"), CiOrigin("release/4.0.0", SHA))
    assert plan is not None
    cmd, env = plan
    assert env == "production"
    assert cmd.artifacts == {"ciBuild": "b-9", "sbom": "gs://ctl-ci-reports/ci/b-9/sbom.cdx.json"}


def test_no_sbom_is_linked_when_its_step_did_not_succeed() -> None:
    plan = ci_release(ci_build("FAILURE"), CiOrigin("release/4.0.0", SHA))
    assert plan is not None and plan[0].artifacts == {"ciBuild": "b-9"}
