"""`config/environments.toml`: the shipped file is valid; a broken one names file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import PlaneConfig, Settings, load_config
from shared.errors import ConfigError

GOOD = """
[control]
project = "demo-release-control"
[environments.dev]
project = "demo-avalo-dev"
[environments.production]
project = "demo-avalo-production"
approval_required = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "environments.toml"
    path.write_text(text)
    return path


def test_the_shipped_config_uses_the_local_demo_projects(plane: PlaneConfig) -> None:
    assert plane.control.project == "demo-release-control"
    assert {e.project for e in plane.environments.values()} == {
        "demo-avalo-dev",
        "demo-avalo-staging",
        "demo-avalo-production",
    }
    assert plane.env("production").approval_required
    assert plane.env("staging").name == "staging"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("approval_required = true", "approval_required = false"),
            "environments.production.approval_required: production always requires approval",
        ),
        (GOOD + "bake_minutes = -1\n", "environments.production.bake_minutes"),
        (GOOD + "colour = 'red'\n", "environments.production.colour: Extra inputs"),
        (GOOD.replace('"demo-avalo-dev"', '"demo-avalo-production"'), "its own project"),
        (GOOD.replace('"demo-avalo-dev"', '"Bad_Project"'), "environments.dev.project"),
        ("[control]\n", "environments: Field required"),
        ("[environments\n", "not valid TOML"),
    ],
)
def test_a_broken_file_fails_with_one_message_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_an_unknown_environment_lists_the_known_ones(plane: PlaneConfig) -> None:
    with pytest.raises(ConfigError, match=r"unknown environment 'qa' \(known: dev, production"):
        plane.env("qa")


def test_settings_read_the_config_path_and_project_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELEASECTL_CONFIG_FILE", str(write(tmp_path, GOOD)))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-control")
    settings = Settings()
    assert settings.project == "my-control"
    assert set(settings.plane.environments) == {"dev", "production"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("canary = [50, 10]", "environments.production.canary: steps must be strictly ascending"),
        ("canary = [10, 10]", "environments.production.canary: steps must be strictly ascending"),
        ("canary = [0, 50]", "environments.production.canary: each step is a percentage"),
        ("canary = [10, 100]", "environments.production.canary: each step is a percentage"),
        ("canary = ['ten']", "environments.production.canary.0"),
        (
            "canary = [10]\ncanary_targets = ['functions', 'hosting']",
            "environments.production.canary_targets: Value error, 'hosting' cannot split traffic",
        ),
        ("canary_targets = ['rules']", "'rules' cannot split traffic"),
        ("canary_step_minutes = 0", "environments.production.canary_step_minutes"),
    ],
)
def test_bad_canary_steps_are_refused_naming_file_and_key(
    tmp_path: Path, line: str, expected: str
) -> None:
    path = write(tmp_path, GOOD + line + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected.replace("Value error, ", "") in str(err.value)


def test_canary_steps_load_in_order(tmp_path: Path) -> None:
    plane = load_config(write(tmp_path, GOOD + "canary = [10, 50]\n"))
    assert plane.env("production").canary == (10, 50)
    assert plane.env("dev").canary == ()


def test_a_canary_step_bakes_its_own_length_or_the_bake(tmp_path: Path) -> None:
    plane = load_config(write(tmp_path, GOOD + "canary = [10]\ncanary_step_minutes = 0.25\n"))
    assert plane.env("production").step_minutes == 0.25
    assert plane.env("dev").step_minutes == plane.env("dev").bake_minutes
