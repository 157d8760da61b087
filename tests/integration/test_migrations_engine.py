"""The migrations engine against the Firestore emulator: round trip, dry run, checksums,
lock, production safety, snapshots, protected collections."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.config import PlaneConfig
from shared.migrations.errors import (
    BadMigrationInput,
    LockHeld,
    MigrationFailed,
    ValidationFailed,
)
from shared.migrations.model import Status
from tests.integration.test_migrations_support import (
    DEV,
    PROD,
    client,
    dump,
    engine,
    seed,
    wipe,
    write_migration,
)


@pytest.fixture
def host(emulator_env: dict[str, str], plane: PlaneConfig) -> str:
    host_port = emulator_env["FIRESTORE_EMULATOR_HOST"]
    wipe(host_port, plane.env(DEV).project, plane.env(PROD).project)
    return host_port


@pytest.fixture
def dev_db(host: str, plane: PlaneConfig) -> Iterator[Any]:
    db = client(plane.env(DEV).project)
    yield db
    db.close()


COUNTER = """
version = "{version}"
description = "bump every item's n (not idempotent on purpose)"

def up(ctx):
    ctx.migrate("items", lambda snap: {{"n": snap.get("n") + 1}})

def down(ctx):
    ctx.migrate("items", lambda snap: {{"n": snap.get("n") - 1}})
"""


def test_shipped_migrations_round_trip_leaves_data_as_before(
    dev_db: Any, plane: PlaneConfig, host: str
) -> None:
    seed(dev_db, "users", 5, name="someone")
    # an operator already set a flag in the console: `up` must not reset it, `down` keep it
    dev_db.document("featureFlags/wallet").set({"enabled": False, "killSwitch": True})
    before = dump(dev_db)

    eng = engine(dev_db, plane, DEV, host=host, release="1.4.0")
    report = eng.up()
    assert [s.version for s in report.steps] == ["1.0.0", "1.1.0"]
    flags = dev_db.collection("featureFlags")
    assert flags.document("wallet").get().to_dict() == {"enabled": False, "killSwitch": True}
    panic = flags.document("panicTracking").get().to_dict()
    assert panic["alwaysOn"] is True and panic["rolloutPercent"] == 100
    assert panic["updatedAt"] is not None
    assert dev_db.document("compliance/ageGate").get().to_dict()["verified"] is False
    assert dev_db.document("_schema/current").get().to_dict()["version"] == "1.1.0"
    entry = dev_db.document("_schema/current/history/1.1.0").get().to_dict()
    assert entry["outcome"] == "success" and entry["direction"] == "up"
    assert entry["docsWritten"] == 7 and entry["release"] == "1.4.0"
    assert entry["checksum"].startswith("sha256:") and entry["actor"] == "tester"
    assert entry["dryRun"] is False and entry["durationMs"] >= 0
    applied = eng.applied_by_release("1.4.0")
    assert applied.versions == ["1.0.0", "1.1.0"] and applied.schema_version == "1.1.0"

    eng.down("0.0.0")
    after = dump(dev_db, skip=("_schema",))
    # safety flags outlive a downgrade (flags policy); everything else is exactly as before
    for flag in ("refundButtons", "panicTracking"):
        assert after.pop(f"featureFlags/{flag}")["alwaysOn"] is True
    assert after == before
    assert dev_db.document("_schema/current").get().to_dict()["version"] is None
    assert [i.status for i in eng.plan().items] == [Status.PENDING, Status.PENDING]


def test_collection_pass_round_trip_is_exact(
    dev_db: Any, plane: PlaneConfig, host: str, tmp_path: Path
) -> None:
    seed(dev_db, "items", 130, n=5)
    dev_db.document("items/doc00007").update({"n": 41})
    before = dump(dev_db)
    directory = tmp_path / "m"
    write_migration(directory, "001_counter.py", COUNTER.format(version="1.0.0"))
    eng = engine(dev_db, plane, DEV, directory, host=host, chunk_size=20)
    up = eng.up()
    assert up.steps[0].docs_written == 130
    assert dev_db.document("items/doc00007").get().get("n") == 42
    eng.down("0.0.0")
    assert dump(dev_db, skip=("_schema",)) == before


def _export_data(host: str, project: str, directory: Path) -> bytes:
    directory.mkdir(parents=True)
    httpx.post(
        f"http://{host}/emulator/v1/projects/{project}:export",
        json={
            "database": f"projects/{project}/databases/(default)",
            "export_directory": str(directory),
        },
        timeout=60,
    ).raise_for_status()
    (data,) = directory.glob("*/all_namespaces/all_kinds/output-0")
    return data.read_bytes()


def test_dry_run_reads_real_data_and_writes_nothing(
    dev_db: Any, plane: PlaneConfig, host: str, tmp_path: Path
) -> None:
    seed(dev_db, "items", 120, n=0)
    directory = tmp_path / "m"
    write_migration(directory, "001_counter.py", COUNTER.format(version="1.0.0"))
    export_before = _export_data(host, plane.env(DEV).project, tmp_path / "before")
    docs_before = dump(dev_db, times=True)

    report = engine(dev_db, plane, DEV, directory, host=host).up(dry_run=True)

    assert report.dry_run and report.steps[0].docs_written == 120
    assert report.steps[0].docs_read >= 120
    assert dump(dev_db, times=True) == docs_before  # not even a no-op write
    assert _export_data(host, plane.env(DEV).project, tmp_path / "after") == export_before
    assert not dev_db.document("_schema/lock").get().exists


def test_edited_file_fails_validation_until_repaired(
    dev_db: Any, plane: PlaneConfig, host: str, tmp_path: Path
) -> None:
    seed(dev_db, "items", 10, n=0)
    directory = tmp_path / "m"
    path = write_migration(directory, "001_counter.py", COUNTER.format(version="1.0.0"))
    engine(dev_db, plane, DEV, directory, host=host).up()
    path.write_text(path.read_text() + "\n# edited after it ran\nEXTRA = 1\n")
    write_migration(directory, "002_more.py", COUNTER.format(version="1.1.0"))

    eng = engine(dev_db, plane, DEV, directory, host=host)
    with pytest.raises(ValidationFailed, match=r"1\.0\.0 \(001_counter.py\): checksum mismatch"):
        eng.validate()
    with pytest.raises(ValidationFailed):
        eng.up()
    assert {d.get("n") for d in dev_db.collection("items").stream()} == {1}  # 002 did not run

    before = dump(dev_db, times=True)
    assert eng.repair(dry_run=True) == eng.repair(dry_run=True)
    assert dump(dev_db, times=True) == before  # a dry run only tells
    changes = eng.repair()
    assert len(changes) == 1 and "1.0.0: checksum" in changes[0]
    eng.validate()
    entry = dev_db.document("_schema/current/history/1.0.0").get().to_dict()
    assert entry["previousChecksum"] != entry["checksum"] and entry["repairedBy"] == "tester"
    audit = [d.to_dict() for d in dev_db.collection("_schema/current/audit").stream()]
    assert sorted(a["action"] for a in audit) == ["repair", "up"]
    (run,) = [a for a in audit if a["action"] == "up"]
    assert run["version"] == "1.0.0" and run["outcome"] == "success" and run["docsWritten"] == 10


GATED = """
import os, time
from google.cloud import firestore
version = "1.0.0"
description = "waits for the test to open the gate"

def up(ctx):
    ctx.writer.set("counters/runs", {{"n": firestore.Increment(1)}}, merge=True)
    deadline = time.monotonic() + 60
    while not os.path.exists({gate!r}) and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def test_concurrent_runs_never_apply_twice(
    dev_db: Any, plane: PlaneConfig, host: str, tmp_path: Path
) -> None:
    gate = tmp_path / "open"
    directory = tmp_path / "m"
    write_migration(directory, "001_gated.py", GATED.format(gate=str(gate)))
    first = engine(client(plane.env(DEV).project), plane, DEV, directory, host=host)
    reports: list[Any] = []
    runner = threading.Thread(target=lambda: reports.append(first.up()))
    runner.start()
    lock = dev_db.document("_schema/lock")
    deadline = time.monotonic() + 30
    while not lock.get().exists and time.monotonic() < deadline:
        time.sleep(0.05)

    second = engine(client(plane.env(DEV).project), plane, DEV, directory, host=host)
    with pytest.raises(LockHeld, match="migration lock held by tester"):
        second.up()  # no waiting: refused at once
    waiter: list[Any] = []
    waiting = threading.Thread(target=lambda: waiter.append(second.up(wait_s=60)))
    waiting.start()
    time.sleep(0.5)  # let the waiter poll the held lock at least once
    gate.touch()
    runner.join(60)
    waiting.join(60)

    assert [s.version for s in reports[0].steps] == ["1.0.0"]
    assert waiter[0].steps == []  # it re-planned under the lock: nothing left to do
    assert dev_db.document("counters/runs").get().to_dict() == {"n": 1}
    assert not lock.get().exists


def test_production_needs_force_and_takes_a_snapshot(
    plane: PlaneConfig, host: str, tmp_path: Path
) -> None:
    db = client(plane.env(PROD).project)
    seed(db, "items", 3, n=0)
    before = dump(db)
    with pytest.raises(BadMigrationInput, match=r"--env production .* add --force"):
        engine(db, plane, PROD, host=host, snapshots_dir=tmp_path).up()
    assert dump(db) == before  # refused before anything was written (no lock, no history)

    report = engine(db, plane, PROD, host=host, snapshots_dir=tmp_path).up(force=True)
    assert report.snapshot is not None
    snapshot = Path(report.snapshot)
    assert snapshot.is_relative_to(tmp_path)
    assert list(snapshot.glob("*/*.overall_export_metadata"))
    for version in ("1.0.0", "1.1.0"):
        entry = db.document(f"_schema/current/history/{version}").get().to_dict()
        assert entry["snapshot"] == report.snapshot


PROTECTED = """
version = "1.0.0"
description = "touches users"
{declare}
def up(ctx):
    ctx.writer.set("users/u1", {{"migrated": True}})
"""


def test_protected_collections_are_guarded(
    dev_db: Any, plane: PlaneConfig, host: str, tmp_path: Path
) -> None:
    undeclared = tmp_path / "undeclared"
    write_migration(undeclared, "001_users.py", PROTECTED.format(declare=""))
    with pytest.raises(MigrationFailed, match="'users' is a protected collection"):
        engine(dev_db, plane, DEV, undeclared, host=host).up(force=True)
    assert not dev_db.document("users/u1").get().exists
    entry = dev_db.document("_schema/current/history/1.0.0").get().to_dict()
    assert entry["outcome"] == "failed" and "protected" in entry["error"]

    wipe(host, plane.env(DEV).project)
    declared = tmp_path / "declared"
    write_migration(
        declared, "001_users.py", PROTECTED.format(declare='protected_writes = ["users"]')
    )
    with pytest.raises(BadMigrationInput, match="writes protected collections"):
        engine(dev_db, plane, DEV, declared, host=host).up()
    assert dump(dev_db) == {}
    engine(dev_db, plane, DEV, declared, host=host).up(force=True)
    assert dev_db.document("users/u1").get().to_dict() == {"migrated": True}


def test_down_without_down_function_is_refused_before_writing(
    dev_db: Any, plane: PlaneConfig, host: str, tmp_path: Path
) -> None:
    directory = tmp_path / "m"
    write_migration(
        directory,
        "001_one_way.py",
        'version = "1.0.0"\ndescription = "no way back"\n'
        'def up(ctx):\n    ctx.writer.set("things/a", {"v": 1})\n',
    )
    eng = engine(dev_db, plane, DEV, directory, host=host)
    eng.up()
    before = dump(dev_db, times=True)
    with pytest.raises(BadMigrationInput, match="has no `down`"):
        eng.down("0.0.0")
    assert dump(dev_db, times=True) == before


def test_baseline_adopts_an_existing_database(dev_db: Any, plane: PlaneConfig, host: str) -> None:
    eng = engine(dev_db, plane, DEV, host=host)
    plan = eng.baseline("1.0.0")
    assert [i.status for i in plan.items] == [Status.BASELINE, Status.PENDING]
    assert [s.version for s in eng.up().steps] == ["1.1.0"]
    assert not dev_db.document("appConfig/app").get().exists  # 1.0.0 was never run
    with pytest.raises(BadMigrationInput, match="already has schema history"):
        eng.baseline("1.1.0")


RACY = """
from google.cloud import firestore
version = "1.0.0"
description = "the app writes one document while the migration is on it"
other = firestore.Client(project={project!r})
raced = []

def bump(snap):
    if snap.id == "doc00003" and not raced:
        raced.append(True)
        other.document("items/doc00003").update({{"n": 100}})  # after our read
    return {{"n": snap.get("n") + 1}}

def up(ctx):
    ctx.migrate("items", bump, conditional={conditional})
"""


@pytest.mark.parametrize(("conditional", "expected"), [(True, 101), (False, 1)])
def test_a_document_changed_under_the_migration_is_transformed_again(
    dev_db: Any, plane: PlaneConfig, host: str, tmp_path: Path, conditional: bool, expected: int
) -> None:
    seed(dev_db, "items", 40, n=0)
    directory = tmp_path / "m"
    body = RACY.format(project=plane.env(DEV).project, conditional=conditional)
    write_migration(directory, "001_racy.py", body)
    engine(dev_db, plane, DEV, directory, host=host, chunk_size=10).up()
    values = {d.id: d.get("n") for d in dev_db.collection("items").stream()}
    # conditional (default): the app's write is kept and migrated (100 + 1); without the
    # precondition it is lost under the migration's stale write
    assert values.pop("doc00003") == expected
    assert set(values.values()) == {1}


def test_lock_lease_expiry_and_fencing(dev_db: Any, host: str) -> None:
    from datetime import UTC, datetime, timedelta

    from shared.migrations.errors import LockLost
    from shared.migrations.lock import MigrationLock

    now = [datetime(2030, 1, 1, tzinfo=UTC)]

    def lock(run_id: str) -> MigrationLock:
        return MigrationLock(
            dev_db,
            run_id=run_id,
            actor=run_id,
            release=None,
            lease=timedelta(minutes=1),
            clock=lambda: now[0],
        )

    first, second = lock("first"), lock("second")
    first.acquire(0)
    with pytest.raises(LockHeld, match="held by first"):
        second.acquire(0)
    first.renew_with([])  # still ours: fine
    now[0] += timedelta(minutes=2)  # first stalls past its lease
    second.acquire(0)  # expired: taken over
    with pytest.raises(LockLost):
        first.renew_with([(dev_db.document("things/x"), {"v": 1})])
    assert not dev_db.document("things/x").get().exists  # fenced write did not land
    first.release_lock()  # not ours any more: leaves second's lock alone
    assert dev_db.document("_schema/lock").get().to_dict()["runId"] == "second"


def test_the_schema_history_ledger_says_what_a_release_applied(
    dev_db: Any, plane: PlaneConfig, host: str
) -> None:
    from shared.adapters.migration_ledger import SchemaHistoryLedger
    from shared.config import Settings

    ledger = SchemaHistoryLedger(Settings())
    assert ledger.applied("1.4.0", plane.env(DEV)) == {
        "versions": [],
        "schemaVersion": None,
        "snapshot": None,
    }
    engine(dev_db, plane, DEV, host=host, release="1.4.0").up()
    assert ledger.applied("1.4.0", plane.env(DEV)) == {
        "versions": ["1.0.0", "1.1.0"],
        "schemaVersion": "1.1.0",
        "snapshot": None,
    }
    assert ledger.applied("1.5.0", plane.env(DEV))["versions"] == []  # applied nothing
