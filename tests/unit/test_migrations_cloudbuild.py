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
