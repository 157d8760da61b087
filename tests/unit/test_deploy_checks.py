"""`./deploy.sh gcp` refuses checks that would send the deployed gates and smoke tests to
loopback or private addresses (the shipped `config/checks.toml` points at the local stack)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from typer.testing import CliRunner

from shared.config import PlaneConfig
from shared.deploy import gcp
from shared.deploy.inputs import DeployError, check_checks, make_inputs
from shared.gates.checks_file import ChecksConfig, local_address, local_endpoints

ENV_PROJECTS = "dev=acme-avalo-dev,staging=acme-avalo-staging,production=acme-avalo-prod"
BASE = ["--project", "acme-release-control", "--env-project", ENV_PROJECTS]
CONFIG = ["--config", "tests/golden/deploy_environments.toml"]


def test_the_shipped_checks_file_is_refused_naming_the_file_and_the_key() -> None:
    for extra in ([], ["--dry-run"]):
        result = CliRunner().invoke(gcp.app, [*BASE, *CONFIG, *extra])
        assert result.exit_code == 2, result.output
        line = result.stderr.strip()
        assert "\n" not in line and "Traceback" not in line
        assert "config/checks.toml: environments.dev.base_url is 'http://127.0.0.1:8081'" in line
        assert "loopback" in line and "--checks" in line and "(and 2 more)" in line


def test_checks_pointing_at_the_real_hosts_are_deployed_and_read_by_the_functions() -> None:
    checks = ["--checks", "tests/golden/deploy_checks.toml"]
    result = CliRunner().invoke(gcp.app, [*BASE, *CONFIG, *checks, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "RELEASECTL_CHECKS_FILE=/workspace/tests/golden/deploy_checks.toml" in result.stdout


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8081", "loopback"),
        ("http://localhost:8080/app", "loopback"),
        ("https://api.localhost", "loopback"),
        ("http://[::1]:80", "loopback"),
        ("http://[::ffff:127.0.0.1]", "loopback"),
        ("http://0.0.0.0:80", "unspecified"),
        ("http://169.254.169.254", "link-local"),
        ("http://10.1.2.3", "private"),
        ("https://192.168.0.10:8443", "private"),
        ("http://172.16.5.5", "private"),
        ("http://[fd00::1]", "private"),
        ("https://avalo.example.com", None),
        ("https://8.8.8.8", None),
        ("https://localhost.example.com", None),
    ],
)
def test_local_addresses_are_told_apart_from_reachable_ones(url: str, why: str | None) -> None:
    assert local_address(url) == why


def plane(dev_project: str) -> PlaneConfig:
    return PlaneConfig.model_validate(
        {
            "control": {"project": "acme-release-control"},
            "environments": {
                "dev": {"project": dev_project},
                "production": {"project": "acme-avalo-prod", "approval_required": True},
            },
        }
    )


def checks(dev_url: str, prod_url: str) -> ChecksConfig:
    return ChecksConfig.model_validate(
        {"environments": {"dev": {"base_url": dev_url}, "production": {"base_url": prod_url}}}
    )


def test_only_non_demo_environments_must_point_away_from_this_machine() -> None:
    loopback = checks("http://127.0.0.1:8081", "http://10.0.0.7")
    assert local_endpoints(loopback, plane("demo-avalo-dev")) == [
        ("environments.production.base_url", "http://10.0.0.7", "private")
    ]
    assert [key for key, _, _ in local_endpoints(loopback, plane("acme-avalo-dev"))] == [
        "environments.dev.base_url",
        "environments.production.base_url",
    ]
    assert local_endpoints(checks("https://d.example", "https://p.example"), plane("a-dev1")) == []


def test_the_deploy_check_reads_the_file_it_is_given(tmp_path: Path) -> None:
    (tmp_path / "checks.toml").write_text(
        '[environments.production]\nbase_url = "http://192.168.1.20"\n', encoding="utf-8"
    )
    inputs = make_inputs(
        control_project="acme-release-control",
        env_projects={"dev": "acme-avalo-dev", "production": "acme-avalo-prod"},
        checks_file=PurePosixPath("checks.toml"),
    )
    with pytest.raises(DeployError) as refused:
        check_checks(inputs, plane("acme-avalo-dev"), tmp_path)
    assert str(refused.value).startswith(
        "checks.toml: environments.production.base_url is 'http://192.168.1.20', a private address"
    )
