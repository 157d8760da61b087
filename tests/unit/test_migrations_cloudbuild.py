"""`cloudbuild/migrate.yaml` is a valid Build and runs `releasectl migrate up` for the release."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from shared.adapters.cloudbuild import build_body, substitutions
from shared.domain.effects import StartBuild

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "cloudbuild" / "migrate.yaml"


def request() -> StartBuild:
    return StartBuild(
        release="1.4.0",
        env="production",
        attempt=2,
        step="migrate",
        config="cloudbuild/migrate.yaml",
        env_project="demo-avalo-production",
    )


def test_config_is_a_valid_cloud_build() -> None:
    from google.cloud.devtools import cloudbuild_v1

    body = build_body(request(), "demo-release-control", ROOT)
    build = cloudbuild_v1.Build.from_json(json.dumps(body), ignore_unknown_fields=False)
    assert [s.id for s in build.steps] == ["install", "check-project", "migrate"]
    assert build.substitutions["_RELEASE"] == "1.4.0"
    assert build.substitutions["_ENV_PROJECT"] == "demo-avalo-production"


def test_every_substitution_used_is_declared_with_a_default() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    declared = set(config["substitutions"])
    used = set(re.findall(r"\$(_[A-Z_]+)", CONFIG.read_text()))
    assert used <= declared
    assert set(substitutions(request(), "p")) <= declared


def test_migrate_step_runs_up_for_the_release() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    (step,) = [s for s in config["steps"] if s["id"] == "migrate"]
    script = step["args"][-1]
    assert 'releasectl migrate up --env "$_ENV" --release "$_RELEASE"' in script
    assert "--force" in script and "--json" in script


def _script(step_id: str, subs: dict[str, str]) -> str:
    config = yaml.safe_load(CONFIG.read_text())
    (step,) = [s for s in config["steps"] if s["id"] == step_id]
    script: str = step["args"][-1]
    for key in sorted(subs, key=len, reverse=True):  # $_ENV_PROJECT before $_ENV
        script = script.replace("$" + key, subs[key])
    return script


SUBS = {"_RELEASE": "1.4.0", "_ENV": "dev", "_ENV_PROJECT": "demo-avalo-dev", "BUILD_ID": "b1"}


def test_step_scripts_are_valid_bash() -> None:
    import subprocess

    for step_id in ("install", "check-project", "migrate"):
        result = subprocess.run(["bash", "-n", "-c", _script(step_id, SUBS)], check=False)
        assert result.returncode == 0, step_id


def test_check_project_refuses_a_config_that_maps_the_env_elsewhere() -> None:
    import subprocess
    import sys

    def run(subs: dict[str, str]) -> subprocess.CompletedProcess[str]:
        script = _script("check-project", subs).replace(".venv/bin/python", sys.executable)
        return subprocess.run(
            ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
        )

    assert run(SUBS).returncode == 0
    wrong = run({**SUBS, "_ENV_PROJECT": "demo-somewhere-else"})
    assert wrong.returncode != 0
    assert "config maps dev to demo-avalo-dev, build expects demo-somewhere-else" in wrong.stderr
    assert run({**SUBS, "_RELEASE": ""}).returncode == 2
