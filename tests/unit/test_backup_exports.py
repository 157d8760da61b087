"""Managed exports and imports run on: started in one function run (their long-running
operation recorded), polled by the tick with `get_operation`, ended once (`Backups.settle`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from shared.backups.handler import Backups
from shared.backups.managed import BackupFailed, ManagedExports
from shared.backups.model import BackupRecord, expired
from shared.config import EnvConfig
from shared.errors import Refused

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ENV = EnvConfig(name="production", project="avalo-prod", backups_keep=2)
OP = "projects/avalo-prod/databases/(default)/operations/ASA3"
IMPORT = "projects/avalo-prod/databases/(default)/operations/AiE4"


class Admin:
    """`FirestoreAdminClient`'s calls: the export and the import each start an operation;
    `get_operation` answers from `state` (the export's) or `imported` (the import's): running,
    done, or an error."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {"done": False}
        self.imported: dict[str, Any] = {"done": False}

    def export_documents(self, request: dict[str, str]) -> Any:
        self.requests.append(request)
        return SimpleNamespace(operation=SimpleNamespace(name=OP))

    def import_documents(self, request: dict[str, Any]) -> Any:
        self.requests.append(request)
        return SimpleNamespace(operation=SimpleNamespace(name=IMPORT))

    def get_operation(self, request: dict[str, str]) -> Any:
        assert request["name"] in (OP, IMPORT)
        state = self.state if request["name"] == OP else self.imported
        error = state.get("error")
        status = SimpleNamespace(code=9 if error else 0, message=error or "")
        return SimpleNamespace(
            done=state["done"], error=status, HasField=lambda f: f == "error" and bool(error)
        )


class Catalog:
    def __init__(self) -> None:
        self.records: dict[str, BackupRecord] = {}

    def put(self, record: BackupRecord) -> None:
        self.records[record.id] = record

    def list(self, env: str) -> list[BackupRecord]:
        mine = [r for r in self.records.values() if r.env == env]
        return sorted(mine, key=lambda r: r.started_at, reverse=True)

    def get(self, backup: str) -> BackupRecord | None:
        return self.records.get(backup)

    def remove(self, backup: str) -> None:
        del self.records[backup]


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> tuple[Backups, Admin, Catalog]:
    from google.cloud import firestore

    collections = [SimpleNamespace(id="users"), SimpleNamespace(id="featureFlags")]
    monkeypatch.setattr(
        firestore, "Client", lambda project: SimpleNamespace(collections=lambda: collections)
    )
    admin, catalog = Admin(), Catalog()
    times = iter(T0 + timedelta(minutes=n) for n in range(100))

    def clock() -> datetime:
        return next(times)

    target = ManagedExports(clock=clock, admin=admin)
    where = lambda env, ident: f"gs://b/{env}/{ident}"  # noqa: E731
    return Backups(target, catalog, "managed-export", where, clock), admin, catalog


def test_an_export_is_started_and_recorded_running_with_its_operation(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, catalog = exports
    record = service.take(ENV, "rollout", "1.2.0", attempt=3)
    assert record.running and record.lro == OP and record.attempt == 3
    assert record.collections == ["featureFlags", "users"]
    assert admin.requests == [
        {"name": "projects/avalo-prod/databases/(default)", "output_uri_prefix": record.location}
    ]
    assert catalog.records[record.id] == record
    with pytest.raises(Refused, match="still being taken"):
        service.restore(record.id, ENV, force=True, include_protected=False)


def test_settle_delivers_an_ended_export_once_and_only_then_records_it(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, catalog = exports
    record = service.take(ENV, "manual", for_operation="release-commands:9")
    delivered: list[BackupRecord] = []

    def deliver(done: BackupRecord) -> None:
        assert catalog.records[done.id].running  # recorded only after it was delivered
        delivered.append(done)

    assert service.settle(ENV, deliver) == 0  # still running
    admin.state = {"done": True}
    assert service.settle(ENV, deliver) == 1
    assert service.settle(ENV, deliver) == 0
    (done,) = delivered
    assert done.finished_at is not None and done.for_operation == "release-commands:9"
    assert not catalog.records[record.id].running


def test_settle_hands_each_export_still_running_to_still_on_every_poll(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, _ = exports
    record = service.take(ENV, "rollout", "1.2.0", attempt=1)
    running: list[str] = []
    service.settle(ENV, lambda done: None, lambda r: running.append(r.id))
    service.settle(ENV, lambda done: None, lambda r: running.append(r.id))
    admin.state = {"done": True}
    service.settle(ENV, lambda done: None, lambda r: running.append(r.id))
    assert running == [record.id, record.id]  # not once it has ended


def test_an_export_that_failed_ends_with_firestores_reason(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, _ = exports
    record = service.take(ENV, "rollout", "1.2.0", attempt=1)
    admin.state = {"done": True, "error": "bucket gs://b does not exist"}
    delivered: list[BackupRecord] = []
    service.settle(ENV, delivered.append)
    assert delivered[0].error == "managed export failed: bucket gs://b does not exist"
    with pytest.raises(Refused, match="failed"):
        service.restore(record.id, ENV, force=True, include_protected=False)


def test_a_delivery_that_fails_leaves_the_export_running_for_the_next_tick(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, catalog = exports
    record = service.take(ENV, "manual")
    admin.state = {"done": True}

    def crash(done: BackupRecord) -> None:
        raise RuntimeError("Firestore unavailable")

    with pytest.raises(RuntimeError):
        service.settle(ENV, crash)
    assert catalog.records[record.id].running  # delivered again on the next tick
    assert service.settle(ENV, lambda done: None) == 1


def test_an_export_that_cannot_start_says_why() -> None:
    class Refusing(Admin):
        def export_documents(self, request: dict[str, str]) -> Any:
            raise PermissionError("403 missing datastore.databases.export")

    import google.cloud.firestore as firestore

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(firestore, "Client", lambda project: SimpleNamespace(collections=lambda: []))
        record = BackupRecord(
            id="x",
            env="production",
            project="avalo-prod",
            kind="managed-export",
            location="gs://b/x",
            started_at=T0,
        )
        with pytest.raises(BackupFailed, match="not started: 403"):
            ManagedExports(admin=Refusing()).start(record)


# -- managed imports (`backup.restore`) ---------------------------------------------------------


def taken(service: Backups, admin: Admin, trigger: Any = "manual") -> BackupRecord:
    """A backup whose export has ended, ready to restore."""
    record = service.take(ENV, trigger)
    admin.state = {"done": True}
    service.settle(ENV, lambda done: None)
    admin.state = {"done": False}
    return record


def test_an_import_starts_returns_at_once_and_is_recorded_on_its_backup(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, catalog = exports
    record = taken(service, admin)
    restored, collections, written = service.restore(
        record.id, ENV, force=True, include_protected=False, for_operation="release-commands:7"
    )
    assert collections == ["featureFlags"] and written is None  # users is protected
    assert admin.requests[-1] == {
        "name": "projects/avalo-prod/databases/(default)",
        "input_uri_prefix": record.location,
        "collection_ids": ["featureFlags"],
    }
    run = restored.restoring
    assert run is not None and run.running
    assert (run.lro, run.operation, run.collections) == (IMPORT, "release-commands:7", collections)
    assert catalog.records[record.id].restoring == run


def test_settle_delivers_an_ended_import_once_and_only_then_records_it(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, catalog = exports
    record = taken(service, admin)
    service.restore(record.id, ENV, force=True, include_protected=True, for_operation="op-1")
    delivered: list[BackupRecord] = []

    def deliver(done: BackupRecord) -> None:
        assert catalog.records[done.id].restoring is not None  # recorded ended only after
        delivered.append(done)

    assert service.settle(ENV, deliver) == 0  # still importing
    admin.imported = {"done": True}
    assert service.settle(ENV, deliver) == 1
    assert service.settle(ENV, deliver) == 0
    (done,) = delivered
    assert done.restoring is not None and done.restoring.finished_at is not None
    assert done.restoring.error is None and done.restoring.operation == "op-1"
    ended = catalog.records[record.id]
    assert ended.restoring is None and not ended.running


def test_an_import_that_failed_ends_with_firestores_reason(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, catalog = exports
    record = taken(service, admin)
    service.restore(record.id, ENV, force=True, include_protected=False, for_operation="op-1")
    admin.imported = {"done": True, "error": "bucket gs://b is not readable"}
    delivered: list[BackupRecord] = []
    assert service.settle(ENV, delivered.append) == 1
    run = delivered[0].restoring
    assert run is not None and run.error == "managed import failed: bucket gs://b is not readable"
    assert catalog.records[record.id].restoring is None  # it may be restored again


def test_a_second_restore_is_refused_while_one_runs_naming_it(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, _ = exports
    first = taken(service, admin)
    service.restore(first.id, ENV, force=True, include_protected=False, for_operation="op-1")
    with pytest.raises(Refused) as refused:
        service.restore(first.id, ENV, force=True, include_protected=False, for_operation="op-2")
    assert refused.value.reason == (
        f"backup {first.id} is still being restored into production (operation op-1): "
        "wait for it to end"
    )
    imports = len(admin.requests)
    admin.imported = {"done": True}
    service.settle(ENV, lambda done: None)
    service.restore(first.id, ENV, force=True, include_protected=False, for_operation="op-3")
    assert len(admin.requests) == imports + 1  # once it ended, it may be restored again


def test_the_same_operation_carried_out_again_finds_its_import_running(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    """Its runner carried out again (a crash after the import started): the import already
    running is its own, not a second restore to refuse or start."""
    service, admin, _ = exports
    record = taken(service, admin)
    first = service.restore(record.id, ENV, force=True, include_protected=False, for_operation="a")
    again = service.restore(record.id, ENV, force=True, include_protected=False, for_operation="a")
    assert again == first and sum("input_uri_prefix" in r for r in admin.requests) == 1


def test_a_restore_is_refused_while_a_backup_of_the_env_is_being_taken(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, _ = exports
    done = taken(service, admin)
    running = service.take(ENV, "rollout", "1.2.0", attempt=1)
    with pytest.raises(Refused, match=f"backup {running.id} of production is still being taken"):
        service.restore(done.id, ENV, force=True, include_protected=False)
    assert not any("input_uri_prefix" in r for r in admin.requests)


def test_no_backup_is_taken_while_one_is_being_restored_into_the_env(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    service, admin, catalog = exports
    record = taken(service, admin)
    service.restore(record.id, ENV, force=True, include_protected=False, for_operation="op-1")
    before = dict(catalog.records)
    for trigger in ("rollout", "manual"):
        with pytest.raises(Refused, match=f"backup {record.id} is still being restored into "):
            service.take(ENV, trigger, "1.3.0")
    assert catalog.records == before  # nothing started, nothing recorded
    admin.imported = {"done": True}
    service.settle(ENV, lambda done: None)
    assert service.take(ENV, "manual").running  # once the import has ended


def test_retention_never_picks_a_backup_being_restored(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    # No backup is taken while an import runs (above), so retention cannot meet one through
    # `take`; the rule holds on its own all the same (its import still reads the files).
    service, admin, catalog = exports
    oldest, middle, newest = (taken(service, admin) for _ in range(3))
    service.restore(oldest.id, ENV, force=True, include_protected=False, for_operation="op-1")
    records = list(catalog.records.values())
    assert [r.id for r in expired(records, 2)] == []
    assert [r.id for r in expired(records, 1)] == [middle.id]
    assert newest.id not in {r.id for r in expired(records, 1)}


def test_an_import_that_cannot_start_says_why(exports: tuple[Backups, Admin, Catalog]) -> None:
    service, admin, catalog = exports
    record = taken(service, admin)

    def refuse(request: dict[str, Any]) -> Any:
        raise PermissionError("403 missing datastore.databases.import")

    admin.import_documents = refuse  # type: ignore[method-assign]
    with pytest.raises(BackupFailed, match="managed import not started: 403"):
        service.restore(record.id, ENV, force=True, include_protected=False)
    assert catalog.records[record.id].restoring is None  # nothing recorded as running


def test_backups_list_says_what_each_backup_is_doing(
    exports: tuple[Backups, Admin, Catalog],
) -> None:
    from shared.cli.backup_cmds import state_of

    service, admin, catalog = exports
    record = service.take(ENV, "manual")
    assert state_of(record) == f"being taken (operation {OP})"
    admin.state = {"done": True}
    service.settle(ENV, lambda done: None)
    assert state_of(catalog.records[record.id]) == "ready"
    service.restore(record.id, ENV, force=True, include_protected=False, for_operation="op-9")
    assert state_of(catalog.records[record.id]) == "being restored (operation op-9)"
    failed = record.model_copy(update={"error": "managed export failed: quota"})
    assert state_of(failed) == "failed: managed export failed: quota"
