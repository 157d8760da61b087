"""`./deploy.sh gcp` on bad input: one clear error, exit 2, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.deploy import catalog, executor, gcp
from shared.deploy.executor import Result
from shared.deploy.steps import Argv

REPO = Path(__file__).resolve().parents[2]
ENV_PROJECTS = "dev=acme-avalo-dev,staging=acme-avalo-staging,production=acme-avalo-prod"
CONFIG = "tests/golden/deploy_environments.toml"
CHECKS = "tests/golden/deploy_checks.toml"
GOOD = [
    "--project", "acme-release-control", "--env-project", ENV_PROJECTS,
    "--config", CONFIG, "--checks", CHECKS,
]  # fmt: skip


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Argv]:
    """Every command the CLI would run; a test that expects none asserts it stays empty."""
    seen: list[Argv] = []

    def runner(cwd: Path) -> executor.Runner:
        def run(argv: Argv) -> Result:
            seen.append(argv)
            return Result(0, "value\n")

        return run

    monkeypatch.setattr(gcp, "subprocess_runner", runner)
    return seen


def invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(gcp.app, args)
    return result.exit_code, result.stderr + result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env-project", ENV_PROJECTS], "Missing option '--project'"),
        (["--project", "acme-release-control"], "Missing option '--env-project'"),
        ([*GOOD, "--colour", "blue"], "No such option: --colour"),
        (["--project", "Acme_Control", "--env-project", ENV_PROJECTS], "--project: 'Acme_Control'"),
        (["--project", "abc", "--env-project", ENV_PROJECTS], "is not valid"),
        (["--project", "acme-release-control", "--env-project", "dev"], "'dev' is not ENV=PROJECT"),
        (["--project", "acme-release-control", "--env-project", "dev="], "is not ENV=PROJECT"),
        (["--project", "acme-release-control", "--env-project", ""], "give ENV=PROJECT pairs"),
        (
            ["--project", "acme-release-control", "--env-project", "dev=acme-a1,dev=acme-b2"],
            "environment 'dev' is given twice",
        ),
        (
            ["--project", "acme-release-control", "--env-project", "dev=BAD_PROJECT"],
            "--env-project dev: 'BAD_PROJECT' is not valid",
        ),
        (
            ["--project", "acme-release-control", "--env-project", "dev=acme-release-control"],
            "the control plane needs its own project",
        ),
        (
            ["--project", "demo-release-control", "--env-project", "dev=acme-avalo-dev"],
            "demo- project id",
        ),
        (
            [*GOOD[:3], "dev=acme-avalo-dev,staging=acme-avalo-staging", *GOOD[4:]],
            "missing environment(s) production",
        ),
        (
            [*GOOD[:3], ENV_PROJECTS + ",qa=acme-avalo-qa", *GOOD[4:]],
            "unknown environment(s) qa",
        ),
        (
            [*GOOD[:3], ENV_PROJECTS.replace("acme-avalo-prod", "acme-other-prod"), *GOOD[4:]],
            "environments.production.project is 'acme-avalo-prod'",
        ),
        (
            ["--project", "acme-release-control", "--env-project", ENV_PROJECTS],
            "control.project is 'demo-release-control'",
        ),
        ([*GOOD, "--region", "Europe"], "--region: 'Europe' is not valid (a Google Cloud region"),
        ([*GOOD, "--firestore-location", "eu west"], "--firestore-location"),
        ([*GOOD[:5], "config/nope.toml"], "config file not found"),
        ([*GOOD[:5], "/etc/passwd"], "must be a path inside the repository"),
        ([*GOOD[:5], "../outside.toml"], "must be a path inside the repository"),
    ],
)
def test_bad_input_is_one_clear_error_and_starts_nothing(
    calls: list[Argv], args: list[str], message: str
) -> None:
    for extra in ([], ["--dry-run"]):
        code, output = invoke([*args, *extra])
        assert code == 2, output
        assert message in output
        assert "Traceback" not in output
    assert calls == []


def test_a_bad_region_is_not_blamed_on_the_firestore_location(calls: list[Argv]) -> None:
    code, output = invoke([*GOOD, "--region", "Europe", "--dry-run"])
    assert code == 2 and "--firestore-location" not in output


def test_missing_gcloud_is_one_error_with_an_install_hint(
    calls: list[Argv], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor.shutil, "which", lambda tool: None)
    code, output = invoke(GOOD)
    assert code == 2
    assert "gcloud not found: install the Google Cloud CLI" in output
    assert "firebase not found: install the Firebase CLI" in output
    assert calls == []


def test_dry_run_needs_no_tools_and_calls_nothing(
    calls: list[Argv], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor.shutil, "which", lambda tool: None)
    code, output = invoke([*GOOD, "--dry-run"])
    assert code == 0, output
    assert output.startswith("#!/usr/bin/env bash")
    assert calls == []


def test_a_run_executes_the_plan_in_order(
    calls: list[Argv], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    code, output = invoke(GOOD)
    assert code == 0, output
    plan = gcp.plan_for("acme-release-control", ENV_PROJECTS, config=CONFIG, checks=CHECKS)
    # every check finds its resource in this fake, so only checks, captures and runs appear
    assert calls[0][:3] == ("gcloud", "services", "enable")
    assert calls[-1][:2] == ("firebase", "deploy")
    assert f"[{len(plan.steps)}/{len(plan.steps)}]" in output


def test_a_failed_step_stops_the_run_with_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    seen: list[Argv] = []

    def runner(cwd: Path) -> executor.Runner:
        def run(argv: Argv) -> Result:
            seen.append(argv)
            if argv[:3] == ("gcloud", "functions", "deploy"):
                return Result(1, "", "ERROR: (gcloud.functions.deploy) PERMISSION_DENIED")
            return Result(0, "x")

        return run

    monkeypatch.setattr(gcp, "subprocess_runner", runner)
    code, output = invoke(GOOD)
    assert code == 1
    assert "failed: Deploy on_build_event" in output
    assert "PERMISSION_DENIED" in output and "safe to repeat" in output
    assert sum(1 for a in seen if a[:3] == ("gcloud", "functions", "deploy")) == 1
    assert seen[-1][:3] == ("gcloud", "functions", "deploy")


def test_a_target_without_a_spec_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    triggers = {**catalog.PUBSUB_TRIGGERS, "new-topic": "on_new_thing"}
    monkeypatch.setattr(catalog, "PUBSUB_TRIGGERS", triggers)
    code, output = invoke([*GOOD, "--dry-run"])
    assert code == 1
    assert "'on_new_thing' has no memory, timeout and roles" in output
