"""Backups on the Firestore emulator: a dump of an env's database taken and restored through
`releasectl backups`, protected collections left alone unless asked, retention."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shared.cli import app, context
from shared.local.subscriptions import FunctionServers

runner = CliRunner()
PROJECT = "demo-avalo-staging"


@pytest.fixture
def app_db(
    wiring: FunctionServers, firestore_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """`take` and `restore` are signed commands: the function servers (`wiring`) carry them
    out, as carol (every role); `list` and the retention test read and act in this process."""
    from google.cloud import firestore

    monkeypatch.setenv("RELEASECTL_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("RELEASECTL_ACTOR", "carol")
    for cached in (context.settings, context.db):
        cached.cache_clear()
    db = firestore.Client(project=PROJECT)
    for doc in db.collection_group("").stream():  # the staging project's data, fresh
        doc.reference.delete()
    yield db
    for cached in (context.settings, context.db):
        cached.cache_clear()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_a_backup_round_trip_puts_changed_documents_back_and_leaves_protected_ones(
    app_db: Any,
) -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    app_db.document("featureFlags/videoCalls").set({"enabled": True, "rollout": 10, "at": at})
    app_db.document("featureFlags/videoCalls/audit/1").set({"by": "ann", "raw": b"\x00\x01"})
    app_db.document("users/u1").set({"name": "Ada", "ref": app_db.document("balances/u1")})
    app_db.document("balances/u1").set({"cents": 100})

    taken = cli("backups", "take", "--env", "staging")
    assert taken.exit_code == 0, taken.output
    assert "4 documents" in taken.output
    listed = json.loads(cli("backups", "list", "--env", "staging", "--json").output)["backups"]
    (backup,) = listed
    assert backup["documents"] == 4 and backup["trigger"] == "manual" and backup["by"] == "carol"
    assert backup["collections"] == ["balances", "featureFlags", "users"]
    table = cli("backups", "list", "--env", "staging").output
    assert backup["id"] in table and "ready" in table  # a dump ends in the run that takes it

    app_db.document("featureFlags/videoCalls").set({"enabled": False, "rollout": 0})
    app_db.document("featureFlags/videoCalls/audit/1").delete()
    app_db.document("featureFlags/newOne").set({"enabled": True})  # created since: left
    app_db.document("users/u1").set({"name": "Changed"})

    restored = cli("backups", "restore", backup["id"], "--env", "staging")
    assert restored.exit_code == 0, restored.output
    assert "restored 2 documents" in restored.output and "featureFlags" in restored.output
    flag = app_db.document("featureFlags/videoCalls").get().to_dict()
    assert flag == {"enabled": True, "rollout": 10, "at": at}
    audit = app_db.document("featureFlags/videoCalls/audit/1").get().to_dict()
    assert audit == {"by": "ann", "raw": b"\x00\x01"}
    assert app_db.document("featureFlags/newOne").get().exists
    assert app_db.document("users/u1").get().to_dict() == {"name": "Changed"}  # protected

    everything = cli("backups", "restore", backup["id"], "--env", "staging", "--include-protected")
    assert everything.exit_code == 0, everything.output
    user = app_db.document("users/u1").get().to_dict()
    assert user["name"] == "Ada" and user["ref"].path == "balances/u1"


def test_bad_restores_are_refused_with_one_line_and_write_nothing(app_db: Any) -> None:
    app_db.document("featureFlags/x").set({"enabled": True})
    assert cli("backups", "take", "--env", "staging").exit_code == 0
    unknown = cli("backups", "restore", "staging-nope", "--env", "staging")
    assert unknown.exit_code == 2 and "no backup 'staging-nope'" in unknown.output
    (backup,) = json.loads(cli("backups", "list", "--env", "staging", "--json").output)["backups"]
    other_env = cli("backups", "restore", backup["id"], "--env", "dev")
    assert other_env.exit_code == 2 and "is of staging, not dev" in other_env.output
    assert cli("backups", "list", "--env", "nowhere").exit_code == 2
    assert cli("backups", "take", "--env", "nowhere").exit_code == 2


def test_take_and_restore_need_the_operator_role_and_record_who_asked(app_db: Any) -> None:
    from shared.approvals import local_users

    local_users.grant(Path(os.environ[local_users.USERS_FILE_ENV]), "gus", ["releaser"])
    app_db.document("featureFlags/x").set({"enabled": True})
    as_gus = {"RELEASECTL_ACTOR": "gus", "COLUMNS": "200"}
    refused = runner.invoke(app, ["backups", "take", "--env", "staging"], env=as_gus)
    assert refused.exit_code == 1 and "needs the role 'operator'" in refused.output
    assert json.loads(cli("backups", "list", "--env", "staging", "--json").output)["backups"] == []
    assert cli("backups", "take", "--env", "staging").exit_code == 0
    ops = json.loads(cli("env", "operations", "staging", "--json").output)["operations"]
    assert [(o["kind"], o["actor"], o["status"]) for o in ops] == [("backup.take", "carol", "done")]


def test_production_needs_force_and_retention_keeps_the_newest(
    app_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.bootstrap import backups

    prod = context.plane().env("production").model_copy(update={"backups_keep": 2})
    service = backups(context.settings(), context.db())
    ids = [service.take(prod, "manual").id for _ in range(3)]
    kept = [r.id for r in service.of_env("production")]
    assert kept == [ids[2], ids[1]]  # the oldest was deleted, files and record
    backup_dir = Path(os.environ["RELEASECTL_BACKUP_DIR"]) / "production"
    assert sorted(p.name for p in backup_dir.iterdir()) == sorted(ids[1:])
    unforced = cli("backups", "restore", ids[2], "--env", "production")
    assert unforced.exit_code == 2 and "--force" in unforced.output


def test_a_restore_while_an_import_into_the_env_runs_is_refused_naming_it(app_db: Any) -> None:
    """The catalog on Firestore keeps a running import (`restoring`); a second restore into
    that env fails with one line naming it, and writes nothing."""
    from shared.backups.catalog import FirestoreCatalog
    from shared.backups.model import RestoreRun

    app_db.document("featureFlags/x").set({"enabled": True})
    assert cli("backups", "take", "--env", "staging").exit_code == 0
    catalog = FirestoreCatalog(context.db())
    (record,) = catalog.list("staging")
    run = RestoreRun(
        operation="release-commands:earlier",
        lro="projects/demo-avalo-staging/databases/(default)/operations/import-1",
        collections=["featureFlags"],
        started_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    )
    catalog.put(record.model_copy(update={"restoring": run}))
    assert catalog.get(record.id) == record.model_copy(update={"restoring": run})
    app_db.document("featureFlags/x").set({"enabled": False})
    second = cli("backups", "restore", record.id, "--env", "staging")
    assert second.exit_code == 1, second.output
    assert f"backup {record.id} is still being restored into staging" in second.output
    assert "(operation release-commands:earlier)" in second.output
    assert app_db.document("featureFlags/x").get().to_dict() == {"enabled": False}
