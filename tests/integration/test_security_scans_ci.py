"""A release branch whose CI scans find a planted `shell=True` and a dependency with a known
advisory is blocked at the production gate with both findings named.

The local build runner runs `cloudbuild/ci.yaml`'s own scan steps (real bandit and cyclonedx-py)
on a scratch git repository's `release/9.9.9` commit and publishes the Build resource on the
Pub/Sub emulator's `cloud-builds` topic; the message is decoded as `on_build_event` decodes it
and handed to the core's bus on Firestore, with the production gate reading the runner's files.
The vulnerability service is unreachable from here, so the `dependencies` step reads a recorded
pip-audit report of `jinja2==2.11.2` (`--recorded`) instead of asking it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from shared.adapters.cloudbuild import NoBuildRunner
from shared.adapters.dead_letters import FirestoreDeadLetters
from shared.adapters.firestore_store import FirestoreUnitOfWork
from shared.adapters.pending_steps import NoBakeAnalysis, NoDeployTarget, NoSmokeTests
from shared.bootstrap import approvals, bootstrap
from shared.cli import app
from shared.config import PlaneConfig, Settings
from shared.domain.builds import parse_build
from shared.domain.messages import BuildStatusChanged
from shared.gates.checks_file import ChecksConfig
from shared.gates.ci_builds import LocalDirCiBuilds
from shared.gates.handler import ComplianceGates
from shared.gates.sources import FirestoreCompliance, HttpProber
from shared.local import build_runner
from shared.local.build_runner import builds_dir, local_object
from shared.local.driving import ci_body
from shared.service.ports import Ports
from shared.topics import CLOUD_BUILDS
from tests.integration.ci_runs import run_ci
from tests.unit.fakes import FakeLedger, FakeReleaseFlags, FakeTicks

REPO = Path(__file__).resolve().parents[2]
PROJECT = "demo-scans-ci"  # its own: see tests/integration/ci_runs.py
BRANCH = "release/9.9.9"
SCANS = ["sast", "dependencies", "sbom"]
RECORDED = "tests/data/security/pip-audit-jinja2.json"
PLANTED = '''"""Planted for the test: a command run through the shell."""

import subprocess


def run(command: str) -> None:
    subprocess.run(command, shell=True, check=True)
'''
CHECKS = ChecksConfig.model_validate(
    {"environments": {"production": {"gates": {"run": SCANS, "required": SCANS}}}}
)


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def scratch_branch(root: Path) -> str:
    """A checkout of what ships, plus the planted file, committed on `release/9.9.9`."""
    keep = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("shared", "functions", "migrations", "config"):
        shutil.copytree(REPO / folder, root / folder, ignore=keep)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "tests/data/security").mkdir(parents=True)
    shutil.copy(REPO / RECORDED, root / RECORDED)
    (root / "shared" / "planted.py").write_text(PLANTED)
    (root / "cloudbuild").mkdir()
    (root / "cloudbuild" / "ci.yaml").write_text(yaml.safe_dump(scans_only()))
    git(root, "init", "-q", "-b", BRANCH)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "plant shell=True")
    (root / ".venv").symlink_to(REPO / ".venv")  # the runner links the build's venv to this
    return git(root, "rev-parse", "HEAD")


def scans_only() -> dict[str, Any]:
    """The shipped ci.yaml's scan steps, unchanged but for the recorded advisory report."""
    config: dict[str, Any] = yaml.safe_load((REPO / "cloudbuild" / "ci.yaml").read_text())
    steps = [s for s in config["steps"] if s["id"] in SCANS]
    assert [s["id"] for s in steps] == SCANS and all(s["allowFailure"] for s in steps)
    deps = steps[1]
    deps["args"] = [*deps["args"][:-1], f"{deps['args'][-1]} --recorded {RECORDED}"]
    return {**config, "steps": steps}


@pytest.fixture
def ci_run(
    emulator_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Path]:
    """Run the scratch branch's CI build; return its published final Build and the local dir."""
    root, local = tmp_path / "scratch", tmp_path / "local"
    root.mkdir()
    commit = scratch_branch(root)
    monkeypatch.setattr(build_runner, "REPO_ROOT", root)  # the scratch repository's commits
    body = ci_body(root / "cloudbuild" / "ci.yaml", BRANCH, commit, [])
    final = run_ci(PROJECT, local, body)
    return final, local


def test_release_branch_with_both_findings_is_blocked_naming_them(
    ci_run: tuple[Any, Path], firestore_db: Any, plane: PlaneConfig
) -> None:
    message, local = ci_run
    build = parse_build(message.data, dict(message.attributes))
    assert build.status == "SUCCESS"  # the scans fail their steps, not the build
    assert {s.id: s.status for s in build.steps} == {
        "sast": "FAILURE",
        "dependencies": "FAILURE",
        "sbom": "SUCCESS",
    }
    sbom_uri = build.uploaded("reports/sbom.cdx.json")
    assert sbom_uri == f"gs://{PROJECT}-ci-reports/ci/{build.id}/sbom.cdx.json"
    bom = json.loads(local_object(local, sbom_uri).read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["components"]

    gates = ComplianceGates(
        CHECKS, FirestoreCompliance(), HttpProber(), LocalDirCiBuilds(builds_dir(local))
    )
    ports = Ports(
        builds=NoBuildRunner(),
        events=_Events(),
        gates=gates,
        smoke=NoSmokeTests(),
        bake=NoBakeAnalysis(),
        deploy_target=NoDeployTarget(),
        flags=FakeReleaseFlags(),
        approvals=approvals(Settings()),
        ticks=FakeTicks(),
        migrations=FakeLedger(),
        letters=FirestoreDeadLetters(firestore_db),
    )
    bus = bootstrap(uow=FirestoreUnitOfWork(firestore_db), plane=plane, ports=ports)
    bus.handle(BuildStatusChanged(build=build), event_id=build.id, topic=CLOUD_BUILDS)

    release = firestore_db.document("releases/9.9.9").get().to_dict()
    assert release["artifacts"] == {"ciBuild": build.id, "sbom": sbom_uri}
    rollout = firestore_db.document("releases/9.9.9/rollouts/production").get().to_dict()
    assert rollout["state"] == "blocked"
    reason = rollout["reason"]
    assert "sast: 1 finding(s) at or above medium; worst: B602 (high)" in reason
    assert "shared/planted.py:7" in reason
    assert "dependencies: 1 finding(s) at or above low; worst: PYSEC-2021-66" in reason
    assert "jinja2==2.11.2" in reason
    checks = {c["name"]: c for c in rollout["steps"]["gates"]["detail"]["checks"]}
    assert checks["sbom"]["ok"] and checks["sbom"]["evidence"]["report"] == sbom_uri
    assert checks["sast"]["evidence"]["report"].endswith(f"/ci/{build.id}/bandit.json")

    # `releasectl history` links the SBOM, and where the local runner keeps its copy
    env = {"RELEASECTL_LOCAL_DIR": str(local), "COLUMNS": "400"}
    shown = CliRunner().invoke(app, ["history", "9.9.9"], env=env)
    assert shown.exit_code == 0, shown.output
    assert sbom_uri in shown.output
    assert str(local_object(local, sbom_uri)) in shown.output.replace("\n", "")


class _Events:
    def publish(self, event: object) -> None:
        pass
