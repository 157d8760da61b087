"""Every `cloudbuild/*.yaml` is valid Cloud Build YAML and keeps the control plane's contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.cloud.devtools import cloudbuild_v1

from shared.adapters.cloudbuild import build_body
from shared.domain.builds import SUB_ATTEMPT, SUB_ENV, SUB_RELEASE, SUB_STEP, origin
from shared.domain.builds import Build as BuildMessage
from shared.domain.change import BUILD_CONFIGS
from shared.domain.effects import StartBuild
from shared.local.build_runner import substitute

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "cloudbuild").glob("*.yaml"))
# Top-level fields of the Build resource that a config file may set
# (https://cloud.google.com/build/docs/build-config-file-schema).
KNOWN_KEYS = {
    "steps",
    "timeout",
    "queueTtl",
    "logsBucket",
    "options",
    "substitutions",
    "tags",
    "serviceAccount",
    "secrets",
    "availableSecrets",
    "artifacts",
    "images",
}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_there_are_the_three_pipelines() -> None:
    assert {p.name for p in CONFIGS} >= {"ci.yaml", "migrate.yaml", "deploy.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_a_config_is_valid_cloud_build_yaml(path: Path) -> None:
    config = load(path)
    assert set(config) <= KNOWN_KEYS, set(config) - KNOWN_KEYS
    assert config["steps"]
    for step in config["steps"]:
        assert step.get("name"), step
    for name in config.get("substitutions", {}):
        assert name.startswith("_"), name
    cloudbuild_v1.Build.from_json(json.dumps(config), ignore_unknown_fields=False)


@pytest.mark.parametrize("step", sorted(BUILD_CONFIGS))
def test_a_step_build_maps_back_to_its_rollout(step: str) -> None:
    config = load(ROOT / BUILD_CONFIGS[step])
    for name in (SUB_RELEASE, SUB_ENV, SUB_STEP, SUB_ATTEMPT):
        assert name in config["substitutions"], name
    request = StartBuild(
        release="1.2.3",
        env="staging",
        attempt=2,
        step=step,  # type: ignore[arg-type]
        config=BUILD_CONFIGS[step],
        env_project="demo-avalo-staging",
        commit="abc1234",
    )
    body = build_body(request, "demo-release-control")
    message = BuildMessage.model_validate({**body, "id": "b1", "status": "SUCCESS"})
    found = origin(message)
    assert found is not None
    assert (found.release, found.env, found.step, found.attempt) == ("1.2.3", "staging", step, 2)


def test_the_deploy_build_passes_what_to_deploy_to_releasectl() -> None:
    """With canary steps the deploy build runs twice: `_PART` says which part it deploys."""
    config = load(ROOT / BUILD_CONFIGS["finish"])
    assert config["substitutions"]["_PART"] == "all"  # a build started by hand: everything
    script = next(s for s in config["steps"] if s["id"] == "deploy")["args"][-1]
    assert '--step "$_STEP" --part "$_PART"' in script
    request = StartBuild(
        release="1.2.3",
        env="staging",
        attempt=1,
        step="finish",
        config=BUILD_CONFIGS["finish"],
        env_project="demo-avalo-staging",
        part="rest",
    )
    subs = build_body(request, "demo-release-control")["substitutions"]
    assert (subs["_STEP"], subs["_PART"]) == ("finish", "rest")


def test_the_ci_build_is_tagged_ci() -> None:
    assert "ci" in load(ROOT / "cloudbuild" / "ci.yaml")["tags"]


def test_local_substitution_follows_cloud_build_rules() -> None:
    values = {"_ENV": "dev", "_ENV_PROJECT": "demo-avalo-dev", "BUILD_ID": "b1"}
    text = 'deploy --env "$_ENV" --project ${_ENV_PROJECT} --id $BUILD_ID $HOME $?'
    assert (
        substitute(text, values) == 'deploy --env "dev" --project demo-avalo-dev --id b1 $HOME $?'
    )
