"""Managed exports run on: started in one function run (its long-running operation recorded),
polled by the tick with `get_operation`, ended once (`Backups.settle`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from shared.backups.handler import Backups
from shared.backups.managed import BackupFailed, ManagedExports
from shared.backups.model import BackupRecord
from shared.config import EnvConfig
from shared.errors import Refused

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ENV = EnvConfig(name="production", project="avalo-prod", backups_keep=2)
OP = "projects/avalo-prod/databases/(default)/operations/ASA3"


class Admin:
    """`FirestoreAdminClient`'s two calls: the export starts an operation; `get_operation`
    answers from `state` (running, done, or an error)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.state: dict[str, Any] = {"done": False}

    def export_documents(self, request: dict[str, str]) -> Any:
        self.requests.append(request)
        return SimpleNamespace(operation=SimpleNamespace(name=OP))

    def get_operation(self, request: dict[str, str]) -> Any:
        assert request == {"name": OP}
        error = self.state.get("error")
        status = SimpleNamespace(code=9 if error else 0, message=error or "")
        return SimpleNamespace(
            done=self.state["done"], error=status, HasField=lambda f: f == "error" and bool(error)
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
