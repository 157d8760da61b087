"""Pure planning, versions, file discovery and guards of the migrations engine (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.migrations import files, planning
from shared.migrations.errors import BadMigrationInput, ProtectedWrite, ValidationFailed
from shared.migrations.lock import Lease, may_take
from shared.migrations.model import MigrationInfo, Status, VersionRecord
from shared.migrations.versions import SemVer
from shared.migrations.writer import check_protected

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def info(number: int, version: str, *, down: bool = True, checksum: str = "") -> MigrationInfo:
    return MigrationInfo(
        number=number,
        name=f"m{number}",
        file=f"{number:03d}_m{number}.py",
        version=version,
        description=f"migration {version}",
        checksum=checksum or f"sha256:{version}",
        has_down=down,
    )


def entry(
    version: str,
    *,
    direction: str = "up",
    outcome: str = "success",
    checksum: str = "",
    release: str | None = None,
) -> VersionRecord:
    return VersionRecord.model_validate(
        {
            "version": version,
            "checksum": checksum or f"sha256:{version}",
            "direction": direction,
            "outcome": outcome,
            "startedAt": T0,
            "actor": "test",
            "release": release,
        }
    )


# -- versions -------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["1", "1.0", "v1.0.0", "01.0.0", "1.0.0-", "", "latest"])
def test_not_semver_is_refused(bad: str) -> None:
    with pytest.raises(BadMigrationInput, match="not a semantic version"):
        SemVer(bad)


def test_semver_precedence() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.2.0",
        "1.10.0",
        "2.0.0",
    ]
    assert sorted(ordered, key=SemVer, reverse=True)[::-1] == ordered
    assert SemVer("1.0.0+build.5") == SemVer("1.0.0")


# -- files ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["1_x.py", "0001_x.py", "001-x.py", "001_X.py", "001_.py", "001_x__y.py", "abc_x.py"]
)
def test_malformed_file_names(name: str) -> None:
    with pytest.raises(BadMigrationInput, match="malformed migration file name"):
        files.parse_name(name)


def test_checksum_ignores_line_endings_but_not_content() -> None:
    text = "version = '1.0.0'\ndef up(ctx):\n    pass\n"
    assert files.checksum(text) == files.checksum(text.replace("\n", "\r\n"))
    assert files.checksum(text) == files.checksum(text + "\n\n")
    assert files.checksum(text) != files.checksum(text.replace("pass", "return None"))


GOOD = """
version = {version!r}
description = "test migration"
def up(ctx):
    pass
def down(ctx):
    pass
"""


def write(directory: Path, name: str, body: str) -> None:
    (directory / name).write_text(body, encoding="utf-8")


def test_load_orders_and_describes(tmp_path: Path) -> None:
    write(tmp_path, "002_second.py", GOOD.format(version="1.1.0"))
    write(tmp_path, "001_first.py", GOOD.format(version="1.0.0"))
    write(tmp_path, "README.md", "not python")
    write(tmp_path, "__init__.py", "")
    loaded = files.load(tmp_path)
    assert [m.info.version for m in loaded] == ["1.0.0", "1.1.0"]
    assert loaded[0].info.has_down and loaded[0].info.checksum.startswith("sha256:")


@pytest.mark.parametrize(
    ("files_", "message"),
    [
        (
            {
                "001_a.py": GOOD.format(version="1.0"),
            },
            "not a semantic version",
        ),
        (
            {"001_a.py": GOOD.format(version="1.0.0"), "002_b.py": GOOD.format(version="1.0.0")},
            "duplicate version 1.0.0",
        ),
        (
            {"001_a.py": GOOD.format(version="1.0.0"), "001_b.py": GOOD.format(version="1.1.0")},
            "duplicate migration number 001",
        ),
        (
            {"001_a.py": GOOD.format(version="2.0.0"), "002_b.py": GOOD.format(version="1.1.0")},
            "must have a higher version",
        ),
        ({"001_a.py": "version = '1.0.0'\ndescription = 'x'\n"}, "`up\\(ctx\\)` is missing"),
        ({"001_a.py": "version = '1.0.0'\ndef up(ctx): pass\n"}, "`description`"),
        ({"001_a.py": "import nosuchmodule_xyz\n"}, "failed to import"),
        (
            {"001_a.py": GOOD.format(version="1.0.0") + "protected_writes = ['wallets']\n"},
            "not protected collections",
        ),
        ({"1_a.py": GOOD.format(version="1.0.0")}, "malformed migration file name"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, files_: dict[str, str], message: str) -> None:
    for name, body in files_.items():
        write(tmp_path, name, body)
    with pytest.raises(BadMigrationInput, match=message):
        files.load(tmp_path)


def test_shipped_migrations_load_with_down() -> None:
    loaded = files.load()
    assert [m.info.file for m in loaded][:2] == [
        "001_initial_schema.py",
        "002_add_feature_flags.py",
    ]
    assert all(m.down is not None for m in loaded)


def test_feature_flag_documents_follow_the_contract() -> None:
    flags = next(m for m in files.load() if m.info.name == "add_feature_flags")
    module = __import__("sys").modules[flags.up.__module__]
    expected = {
        "aiCompanions",
        "videoCalls",
        "calendarPayments",
        "events",
        "refundButtons",
        "panicTracking",
        "wallet",
        "chatBilling",
    }
    assert set(module.FLAGS) == expected
    fields = {
        "enabled",
        "rolloutPercent",
        "killSwitch",
        "alwaysOn",
        "allowUsers",
        "denyUsers",
        "seed",
        "owner",
        "description",
        "updatedBy",
    }
    for name, doc in module.FLAGS.items():
        assert set(doc) == fields, name
        assert 0 <= doc["rolloutPercent"] <= 100 and doc["seed"] == name
    for name in ("refundButtons", "panicTracking"):
        assert module.FLAGS[name]["alwaysOn"] and module.FLAGS[name]["enabled"]
    assert module.FLAGS["wallet"]["killSwitch"] is False
    assert module.FLAGS["wallet"]["rolloutPercent"] == 100
    assert module.FLAGS["aiCompanions"]["enabled"] is False
    assert 0 < module.FLAGS["videoCalls"]["rolloutPercent"] < 100


# -- planning -------------------------------------------------------------------------------
def test_plan_statuses() -> None:
    local = [
        info(1, "1.0.0"),
        info(2, "1.1.0", checksum="sha256:edited"),
        info(3, "1.2.0"),
        info(4, "1.3.0"),
    ]
    history = [entry("1.0.0"), entry("1.1.0"), entry("0.9.0"), entry("1.2.0", outcome="running")]
    plan = planning.build_plan(local, history)
    status = {i.version: i.status for i in plan.items}
    assert status == {
        "0.9.0": Status.MISSING,
        "1.0.0": Status.APPLIED,
        "1.1.0": Status.CHANGED,
        "1.2.0": Status.FAILED,
        "1.3.0": Status.PENDING,
    }
    assert plan.current == "1.1.0"
    errors = planning.validation_errors(plan)
    assert len(errors) == 2
    assert "checksum mismatch" in errors[0] and "1.1.0" in errors[0]
    with pytest.raises(ValidationFailed, match="migrate repair"):
        planning.require_valid(plan)


def test_up_resumes_failed_then_pending_in_order_and_stops_at_target() -> None:
    local = [info(1, "1.0.0"), info(2, "1.1.0"), info(3, "1.2.0"), info(4, "2.0.0")]
    plan = planning.build_plan(local, [entry("1.0.0"), entry("1.1.0", outcome="failed")])
    assert [i.version for i in planning.select_up(plan)] == ["1.1.0", "1.2.0", "2.0.0"]
    assert [i.version for i in planning.select_up(plan, SemVer("1.2.0"))] == ["1.1.0", "1.2.0"]
    with pytest.raises(BadMigrationInput, match="no migration has that version"):
        planning.select_up(plan, SemVer("1.5.0"))


def test_reverted_versions_are_pending_again() -> None:
    local = [info(1, "1.0.0"), info(2, "1.1.0")]
    plan = planning.build_plan(local, [entry("1.0.0"), entry("1.1.0", direction="down")])
    assert plan.current == "1.0.0"
    assert [i.version for i in planning.select_up(plan)] == ["1.1.0"]


def test_pending_below_current_is_refused() -> None:
    local = [info(1, "1.0.0"), info(2, "1.1.0"), info(3, "1.2.0")]
    plan = planning.build_plan(local, [entry("1.0.0"), entry("1.2.0")])
    with pytest.raises(BadMigrationInput, match=r"below the current version 1\.2\.0"):
        planning.select_up(plan)


def test_half_done_down_blocks_up() -> None:
    plan = planning.build_plan(
        [info(1, "1.0.0")], [entry("1.0.0", direction="down", outcome="failed")]
    )
    with pytest.raises(BadMigrationInput, match="run `migrate down` again"):
        planning.select_up(plan)


def test_half_done_up_must_finish_before_down() -> None:
    plan = planning.build_plan([info(1, "1.0.0")], [entry("1.0.0", outcome="failed")])
    with pytest.raises(BadMigrationInput, match="run `migrate up` to finish it first"):
        planning.select_down(plan, SemVer("0.0.0"))
    half_down = planning.build_plan(
        [info(1, "1.0.0")], [entry("1.0.0", direction="down", outcome="running")]
    )
    assert [i.version for i in planning.select_down(half_down, SemVer("0.0.0"))] == ["1.0.0"]


def test_down_newest_first_and_needs_every_down() -> None:
    local = [info(1, "1.0.0"), info(2, "1.1.0", down=False), info(3, "1.2.0")]
    plan = planning.build_plan(local, [entry("1.0.0"), entry("1.1.0"), entry("1.2.0")])
    assert [i.version for i in planning.select_down(plan, SemVer("1.1.0"))] == ["1.2.0"]
    with pytest.raises(BadMigrationInput, match=r"1\.1\.0 \(002_m2.py\) has no `down`"):
        planning.select_down(plan, SemVer("0.0.0"))


def test_baseline_marks_older_versions_applied() -> None:
    local = [info(1, "1.0.0"), info(2, "1.1.0"), info(3, "1.2.0")]
    plan = planning.build_plan(local, [entry("1.1.0", direction="baseline")])
    assert [i.status for i in plan.items] == [Status.BASELINE, Status.BASELINE, Status.PENDING]
    assert plan.current == "1.1.0" and plan.baseline == "1.1.0"
    assert [i.version for i in planning.select_up(plan)] == ["1.2.0"]
    with pytest.raises(BadMigrationInput, match="below the baseline"):
        planning.select_down(plan, SemVer("1.0.0"))


def test_protected_writes_need_force() -> None:
    item = planning.build_plan([info(1, "1.0.0")], []).items[0]
    item.protected_writes = ("users",)
    with pytest.raises(BadMigrationInput, match="--force"):
        planning.refuse_protected([item], force=False)
    planning.refuse_protected([item], force=True)


def test_applied_by_release() -> None:
    history = [
        entry("1.1.0", release="2.0.0"),
        entry("1.0.0", release="1.9.0"),
        entry("1.0.5", release="2.0.0"),
        entry("1.2.0", release="2.0.0", outcome="failed"),
    ]
    applied = planning.applied_by_release("dev", "2.0.0", history, "1.1.0")
    assert applied.versions == ["1.0.5", "1.1.0"]
    assert applied.schema_version == "1.1.0"


# -- guards ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["users/u1", "groups/g/chats/c", "payments/p/items/i"])
def test_protected_collections_are_guarded(path: str) -> None:
    with pytest.raises(ProtectedWrite, match="protected collection"):
        check_protected(path, ())


def test_declared_protected_collection_passes() -> None:
    check_protected("users/u1", ("users",))
    check_protected("featureFlags/wallet", ())
    check_protected("userStats/users", ())  # a document id that happens to read "users"


def lease(host: str = "h1", pid: int = 10, expires: datetime = T0) -> Lease:
    return Lease(run_id="r", actor="a", host=host, pid=pid, acquired_at=T0, expires_at=expires)


def test_lock_lease_rules() -> None:
    later = T0 + timedelta(minutes=5)
    assert may_take(None, T0, "h1")
    assert may_take(lease(expires=T0), later, "h1")  # expired
    live = lease(expires=later + timedelta(minutes=5))
    assert not may_take(live, later, "h2", alive=lambda _pid: False)  # other host: trust lease
    assert not may_take(live, later, "h1", alive=lambda _pid: True)
    assert may_take(live, later, "h1", alive=lambda _pid: False)  # holder died on this host


def test_progress_plain_lines_off_a_terminal_and_a_bar_on_one() -> None:
    import io

    from rich.console import Console

    from shared.migrations.progress import PlainProgress, RichProgress, for_console

    out = io.StringIO()
    plain = for_console(Console(file=out, force_terminal=False, width=200))
    assert isinstance(plain, PlainProgress)
    plain.start("1.2.0 users", None, 0)
    plain.set_total(1000)
    plain.advance(400)
    plain.finish()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("1.2.0 users: 0/? docs")
    assert lines[-1].startswith("1.2.0 users: 400/1000 docs (") and lines[-1].endswith("docs/s)")
    assert isinstance(for_console(Console(file=io.StringIO(), force_terminal=True)), RichProgress)


def test_managed_export_asks_the_admin_api_for_the_whole_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from google.cloud import firestore_admin_v1

    from shared.bootstrap import snapshot_port
    from shared.config import Settings
    from shared.migrations.snapshot import ManagedExportSnapshots

    requests: list[dict[str, str]] = []

    class Operation:
        def result(self, timeout: float) -> object:
            return type("Response", (), {"output_uri_prefix": requests[0]["output_uri_prefix"]})

    class Admin:
        def export_documents(self, request: dict[str, str]) -> Operation:
            requests.append(request)
            return Operation()

    monkeypatch.setattr(firestore_admin_v1, "FirestoreAdminClient", Admin)
    where = ManagedExportSnapshots("gs://bucket/").take("avalo-prod", "production", T0)
    assert requests == [
        {
            "name": "projects/avalo-prod/databases/(default)",
            "output_uri_prefix": "gs://bucket/production/20260101T000000Z",
        }
    ]
    assert where == "gs://bucket/production/20260101T000000Z"
    monkeypatch.delenv("RELEASECTL_SNAPSHOT_BUCKET", raising=False)
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    port = snapshot_port(Settings(), "avalo-prod")
    assert isinstance(port, ManagedExportSnapshots)
    assert port.bucket == "gs://avalo-prod-firestore-snapshots"
