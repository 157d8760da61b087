"""`releasectl auth grant` and `auth whoami` on a demo project: the local users file, and the
identity and roles the control plane would verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.approvals.local_users import USERS_FILE_ENV
from shared.approvals.tokens import EMULATOR_ENV, LOCAL_AUTH_EMULATOR
from shared.cli import app, context
from shared.config import DEFAULT_CONFIG_FILE

runner = CliRunner()


@pytest.fixture(autouse=True)
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "users.json"
    monkeypatch.setenv(USERS_FILE_ENV, str(path))
    monkeypatch.setenv(EMULATOR_ENV, LOCAL_AUTH_EMULATOR)
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    # no running stack, and the default target even inside a local stack's CI build (whose
    # environment names the emulators)
    monkeypatch.delenv("RELEASECTL_TARGET", raising=False)
    monkeypatch.setenv("RELEASECTL_LOCAL_DIR", str(tmp_path / "no-stack"))
    # the shipped environments (dev lets anyone promote), whatever an earlier test set
    monkeypatch.setenv("RELEASECTL_CONFIG_FILE", str(DEFAULT_CONFIG_FILE))
    context.settings.cache_clear()
    yield path
    context.settings.cache_clear()


def test_grant_then_whoami_shows_the_verified_roles_and_what_they_allow() -> None:
    granted = runner.invoke(app, ["auth", "grant", "olga", "operator", "viewer"])
    assert granted.exit_code == 0, granted.output
    assert "olga now holds operator, viewer" in granted.output
    shown = runner.invoke(app, ["auth", "whoami", "--actor", "olga", "--json"])
    assert shown.exit_code == 0, shown.output
    me = json.loads(shown.output)
    assert me["name"] == "olga" and me["verified_by"] == "auth-emulator"
    assert me["roles"] == ["operator", "viewer"]
    assert "release.rollback" in me["may_send"]["production"]
    assert "release.approve" not in me["may_send"]["production"]
    assert "release.promote" in me["may_send"]["dev"]  # dev: anyone may promote
    assert "release.promote" not in me["may_send"]["production"]


def test_an_unknown_role_is_bad_input_and_changes_nothing(local: Path) -> None:
    bad = runner.invoke(app, ["auth", "grant", "olga", "root"])
    assert bad.exit_code == 2 and "unknown role root" in bad.output
    assert not local.exists()
