"""`releasectl migrate …` end to end on the emulator: exit codes, JSON, nothing written on
bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shared.cli import context
from shared.cli.migrate_cmds import app
from shared.config import DEFAULT_CONFIG_FILE, PlaneConfig
from tests.integration.test_migrations_support import DEV, client, dump, wipe, write_migration

runner = CliRunner()


@pytest.fixture
def dev_db(
    emulator_env: dict[str, str], plane: PlaneConfig, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    # the repo's config (other suites may point the session at theirs) and the emulator's host
    monkeypatch.setenv("RELEASECTL_CONFIG_FILE", str(DEFAULT_CONFIG_FILE))
    context.settings.cache_clear()
    wipe(emulator_env["FIRESTORE_EMULATOR_HOST"], plane.env(DEV).project)
    db = client(plane.env(DEV).project)
    yield db
    db.close()
    context.settings.cache_clear()


def migrate(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"RELEASECTL_ACTOR": "cli-test"})


def test_up_status_plan_validate_down(dev_db: Any) -> None:
    result = migrate("up", "--env", DEV, "--release", "2.3.0", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [s["version"] for s in body["run"]["steps"]] == ["1.0.0", "1.1.0"]
    assert body["applied"] == {
        "env": DEV,
        "release": "2.3.0",
        "versions": ["1.0.0", "1.1.0"],
        "schema_version": "1.1.0",
        "snapshot": None,
    }
    status = json.loads(migrate("status", "--env", DEV, "--json").stdout)
    assert status["current"] == "1.1.0" and status["counts"]["applied"] == 2
    assert status["lock"] is None
    plan = json.loads(migrate("plan", "--env", DEV, "--json").stdout)
    assert [i["status"] for i in plan["items"]] == ["applied", "applied"]
    assert migrate("validate", "--env", DEV).exit_code == 0
    assert "nothing to do" in migrate("up", "--env", DEV).stdout
    down = migrate("down", "--env", DEV, "--to", "1.0.0")
    assert down.exit_code == 0, down.output
    assert not dev_db.document("featureFlags/videoCalls").get().exists
    assert dev_db.document("featureFlags/wallet").get().exists  # safety flag stays
    assert dev_db.document("appConfig/app").get().exists


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({}, ["--env", "nope"], "unknown environment 'nope'"),
        ({}, ["--env", "production"], "add --force"),
        ({}, ["--env", DEV, "--to", "latest"], "not a semantic version"),
        ({}, ["--env", DEV, "--to", "9.9.9"], "no migration has that version"),
        ({"1_bad.py": ""}, ["--env", DEV], "malformed migration file name"),
        (
            {
                "001_a.py": 'version = "1.0.0"\ndescription = "a"\ndef up(ctx): pass\n',
                "002_b.py": 'version = "1.0.0"\ndescription = "b"\ndef up(ctx): pass\n',
            },
            ["--env", DEV],
            "duplicate version 1.0.0",
        ),
        (
            {"001_a.py": 'version = "1"\ndescription = "a"\ndef up(ctx): pass\n'},
            ["--env", DEV],
            "not a semantic version",
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    dev_db: Any, tmp_path: Path, files: dict[str, str], args: list[str], message: str
) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    for name, body in files.items():
        write_migration(directory, name, body)
    extra = ["--dir", str(directory)] if files else []
    result = migrate("up", *args, *extra)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert dump(dev_db) == {}


def test_failed_validation_exits_1(dev_db: Any, tmp_path: Path) -> None:
    directory = tmp_path / "m"
    body = 'version = "1.0.0"\ndescription = "a"\ndef up(ctx):\n    pass\n'
    path = write_migration(directory, "001_a.py", body)
    assert migrate("up", "--env", DEV, "--dir", str(directory)).exit_code == 0
    path.write_text(body.replace("pass", "return None"))
    result = migrate("validate", "--env", DEV, "--dir", str(directory))
    assert result.exit_code == 1
    assert "checksum mismatch" in result.stderr
