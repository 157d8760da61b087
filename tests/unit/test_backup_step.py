"""A production rollout backs the env's database up before it migrates; a rollback backs it
up before it restores anything; retention keeps the newest N."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.backups.model import BackupRecord, backup_id, expired
from shared.config import PlaneConfig
from shared.domain.states import State
from shared.service import outbox
from tests.unit.fakes import Driver, FakeBackups, make_world
from tests.unit.test_bake_errors import bake
from tests.unit.test_rollout_flow import create, promote


@pytest.fixture
def d(plane: PlaneConfig) -> Driver:
    return Driver(make_world(plane))


def backups(d: Driver) -> FakeBackups:
    taken = d.w.bus.ports.backups
    assert isinstance(taken, FakeBackups)
    return taken


def test_production_backs_up_before_the_migrate_build_and_records_it(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "production")
    d.command(type="release.approve", release="1.2.0", env="production", approver="bob")
    rollout = d.rollout("1.2.0", "production")
    assert backups(d).taken == [("production", "rollout", "1.2.0")]
    step = rollout.steps["backup"]
    assert step.status == "done" and step.detail["location"] == "/backups/production/1"
    assert step.detail["documents"] == 3 and step.detail["collections"] == ["featureFlags", "users"]
    assert "1.2.0/production/1/migrate" in d.w.builds.started  # after the backup


def test_a_failed_backup_fails_the_rollout_before_anything_changed(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "production")
    backups(d).fail = "export refused: PERMISSION_DENIED"
    d.command(type="release.approve", release="1.2.0", env="production", approver="bob")
    rollout = d.rollout("1.2.0", "production")
    assert rollout.state is State.FAILED
    assert rollout.reason == "backup failed: RuntimeError: export refused: PERMISSION_DENIED"
    assert "1.2.0/production/1/migrate" not in d.w.builds.started
    assert d.env("production").lock is None


def test_other_envs_migrate_without_a_backup_unless_they_ask(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "staging")
    assert backups(d).taken == []
    assert "1.2.0/staging/1/migrate" in d.w.builds.started


def test_a_production_rollback_takes_a_backup_before_it_restores(d: Driver) -> None:
    create(d, "1.1.0")
    bake(d, "1.1.0", "production")
    d.w.clock.advance(minutes=d.w.bus.plane.env("production").bake_minutes)
    d.tick("production")
    create(d)
    bake(d, "1.2.0", "production")
    d.command(type="release.rollback", env="production", actor="ops", reason="bad")
    assert backups(d).taken[-1] == ("production", "rollback", "1.2.0")
    rollback = d.rollout("1.2.0", "production").steps["rollback"]
    assert rollback.detail["backup"]["ok"] is True
    assert d.rollout("1.2.0", "production").state is State.ROLLED_BACK


def test_retention_keeps_the_newest_backups_and_names_sort_by_time() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        BackupRecord(
            id=backup_id("dev", t0 + timedelta(hours=n), "manual", None),
            env="dev",
            project="demo-avalo-dev",
            kind="document-dump",
            location=f"/b/{n}",
            started_at=t0 + timedelta(hours=n),
        )
        for n in (3, 0, 2, 1)
    ]
    assert [r.location for r in expired(records, 2)] == ["/b/0", "/b/1"]
    assert expired(records, 10) == []
    ids = sorted(r.id for r in records)
    assert ids == [r.id for r in sorted(records, key=lambda r: r.started_at)]


class MemoryCatalog:
    """`BackupCatalog` in memory (the Firestore one is tested on the emulator)."""

    def __init__(self) -> None:
        self.records: dict[str, BackupRecord] = {}

    def put(self, record: BackupRecord) -> None:
        self.records[record.id] = record

    def list(self, env: str) -> list[BackupRecord]:
        found = [r for r in self.records.values() if r.env == env]
        return sorted(found, key=lambda r: r.started_at, reverse=True)

    def get(self, backup: str) -> BackupRecord | None:
        return self.records.get(backup)

    def remove(self, backup: str) -> None:
        self.records.pop(backup, None)


# -- long exports: started in one run, polled by the tick (docs/BACKUPS.md, "Long exports") -----


def test_a_long_export_is_recorded_on_the_step_and_the_tick_moves_the_rollout_on(
    d: Driver,
) -> None:
    backups(d).managed = True
    create(d)
    promote(d, "1.2.0", "production")
    d.command(type="release.approve", release="1.2.0", env="production", approver="bob")
    step = d.rollout("1.2.0", "production").steps["backup"]
    assert step.status == "running"
    assert step.detail["lro"].endswith("/operations/op-1") and step.detail["attempt"] == 1
    assert "1.2.0/production/1/migrate" not in d.w.builds.started
    d.tick("production")  # still running: nothing moves
    assert d.rollout("1.2.0", "production").steps["backup"].status == "running"
    backups(d).exports = "done"
    d.tick("production")
    rollout = d.rollout("1.2.0", "production")
    assert rollout.steps["backup"].status == "done" and rollout.state is State.MIGRATING
    assert rollout.steps["backup"].detail["finishedAt"]
    assert "1.2.0/production/1/migrate" in d.w.builds.started
    polls = backups(d).polls
    d.tick("production")  # nothing running any more: nothing delivered twice
    assert backups(d).polls == polls + 1 and d.rollout("1.2.0", "production") == rollout


def test_a_long_export_that_fails_fails_the_rollout_with_firestores_reason(d: Driver) -> None:
    backups(d).managed = True
    create(d)
    promote(d, "1.2.0", "production")
    d.command(type="release.approve", release="1.2.0", env="production", approver="bob")
    backups(d).exports = "managed export failed: bucket not found"
    d.tick("production")
    rollout = d.rollout("1.2.0", "production")
    assert rollout.state is State.FAILED
    assert rollout.reason == "backup failed: managed export failed: bucket not found"
    assert d.env("production").lock is None


def test_a_manual_long_export_closes_its_operation_when_the_tick_sees_it_end(d: Driver) -> None:
    backups(d).managed = True
    d.command(event_id="b-1", type="backup.take", env="staging", actor="ops@avalo.app")
    (op,) = d.w.uow.store.operations.values()
    assert op.status == "running"
    backups(d).exports = "done"
    d.tick("staging")
    (op,) = d.w.uow.store.operations.values()
    assert op.status == "done" and op.result.startswith(
        "backup staging-1 of staging: 2 collections"
    )
    assert op.detail["lro"].endswith("op-1")


def test_a_second_export_of_the_same_attempt_moves_nothing(d: Driver) -> None:
    """The backup runner carried out again (a crash after the export started) starts another
    export; only the first result to end moves the rollout on."""
    backups(d).managed = True
    create(d)
    promote(d, "1.2.0", "production")
    d.command(type="release.approve", release="1.2.0", env="production", approver="bob")
    record = d.w.uow.store.processed
    (key,) = [k for k, r in record.items() if any(e.kind == "backup" for e in r.effects)]
    runner = outbox.Outside(d.w.bus.ports, d.w.bus.plane, d.w.uow.read_release)
    (effect,) = [e for e in record[key].effects if e.kind == "backup"]
    backups(d).exports = "done"
    d.tick("production")  # the first export ends: the migrate build starts
    d.step("1.2.0/production/1/migrate", "WORKING")
    outbox.backup(runner, effect)  # a second export of attempt 1
    d.tick("production")  # ... ends too
    rollout = d.rollout("1.2.0", "production")
    assert rollout.steps["backup"].status == "done" and len(backups(d).taken) == 2
    assert rollout.steps["migrate"].status == "WORKING"  # not started again
    assert len([k for k in d.w.builds.started if k.endswith("/migrate")]) == 1


def test_each_poll_of_a_running_export_renews_the_rollouts_lock(d: Driver) -> None:
    """An export running longer than the lease keeps the env's lock: every tick that finds
    it still running renews the lease, as a bake's ticks do; a redelivered tick adds nothing."""
    backups(d).managed = True
    create(d)
    promote(d, "1.2.0", "production")
    d.command(type="release.approve", release="1.2.0", env="production", approver="bob")
    lease = d.w.bus.plane.env("production").lock_lease_minutes
    first = d.env("production").lock
    assert first is not None
    for _ in range(3):  # three hours of export, past the first lease
        d.w.clock.advance(minutes=lease // 2)
        d.tick("production")
        lock = d.env("production").lock
        assert lock is not None and lock.release == "1.2.0"
        assert lock.lease_until == d.w.clock.now + timedelta(minutes=lease)
    assert d.env("production").holder(d.w.clock.now) is not None
    assert d.env("production").lock.lease_until > first.lease_until + timedelta(minutes=lease)
    backups(d).exports = "done"
    d.tick("production")
    assert d.rollout("1.2.0", "production").steps["backup"].status == "done"
