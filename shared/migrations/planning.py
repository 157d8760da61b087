"""Pure planning: compare the files on disk with the schema history (no I/O, no clock).

Semantics follow Flyway where they fit: applied files must keep their checksum (`validate`),
`repair` realigns them on purpose, a baseline marks versions at or below it as applied, and
pending versions below the current one are refused rather than silently skipped.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.migrations.errors import BadMigrationInput, ValidationFailed
from shared.migrations.model import (
    AppliedVersions,
    MigrationInfo,
    Plan,
    PlanItem,
    Status,
    VersionRecord,
)
from shared.migrations.versions import ZERO, SemVer


def _baseline(history: Iterable[VersionRecord]) -> SemVer | None:
    marks = [
        SemVer(h.version) for h in history if h.direction == "baseline" and h.outcome == "success"
    ]
    return max(marks) if marks else None


def _item(info: MigrationInfo | None, entry: VersionRecord | None, base: SemVer | None) -> PlanItem:
    version = info.version if info else entry.version if entry else ""
    item = PlanItem(
        version=version,
        description=info.description if info else entry.description if entry else "",
        status=Status.PENDING,
        file=info.file if info else None,
        local_checksum=info.checksum if info else None,
        has_down=info.has_down if info else False,
        protected_writes=info.protected_writes if info else (),
    )
    if entry is not None and entry.direction in ("up", "down"):
        item.applied_checksum = entry.checksum or None
        item.applied_at = entry.finished_at or entry.started_at
    item.status = _status(info, entry, base, SemVer(version))
    if item.status is Status.FAILED and entry is not None:
        item.failed_direction = entry.direction
    return item


def _status(
    info: MigrationInfo | None, entry: VersionRecord | None, base: SemVer | None, v: SemVer
) -> Status:
    live = entry is not None and entry.direction in ("up", "down")
    if live and entry is not None and entry.outcome != "success":
        return Status.FAILED
    if live and entry is not None and entry.direction == "up":
        if info is None:
            return Status.MISSING
        return Status.APPLIED if info.checksum == entry.checksum else Status.CHANGED
    if base is not None and v <= base:
        return Status.BASELINE
    return Status.PENDING


def build_plan(local: Iterable[MigrationInfo], history: Iterable[VersionRecord]) -> Plan:
    """Every version known on disk or in the history, in version order, with its status."""
    history = list(history)
    by_version_local = {SemVer(m.version): m for m in local}
    by_version_hist = {SemVer(h.version): h for h in history if h.direction in ("up", "down")}
    base = _baseline(history)
    versions = sorted(set(by_version_local) | set(by_version_hist))
    items = [_item(by_version_local.get(v), by_version_hist.get(v), base) for v in versions]
    items = [i for i in items if i.file is not None or i.status is not Status.PENDING]
    applied = [
        SemVer(i.version)
        for i in items
        if i.status in (Status.APPLIED, Status.CHANGED, Status.MISSING, Status.BASELINE)
    ]
    if base is not None:
        applied.append(base)
    current = str(max(applied)) if applied else None
    return Plan(current=current, baseline=str(base) if base else None, items=items)


def validation_errors(plan: Plan) -> list[str]:
    """What `validate` fails on: edited files and applied files that are gone."""
    errors = []
    for i in plan.with_status(Status.CHANGED):
        errors.append(
            f"{i.version} ({i.file}): checksum mismatch: applied {i.applied_checksum}, "
            f"file now {i.local_checksum}. Revert the edit, or run `migrate repair` if deliberate"
        )
    for i in plan.with_status(Status.MISSING):
        errors.append(
            f"{i.version}: applied but no file on disk. Restore the file, "
            "or run `migrate repair` to mark it deleted"
        )
    return errors


def require_valid(plan: Plan) -> None:
    errors = validation_errors(plan)
    if errors:
        raise ValidationFailed("validation failed:\n  " + "\n  ".join(errors))


def _check_target(plan: Plan, to: SemVer) -> None:
    known = {SemVer(i.version) for i in plan.items}
    if to != ZERO and to not in known and str(to) != plan.baseline:
        raise BadMigrationInput(f"--to {to}: no migration has that version")


def select_up(plan: Plan, to: SemVer | None = None) -> list[PlanItem]:
    """Versions `up` runs, in order: an interrupted `up` first (resumed), then pending ones."""
    if to is not None:
        _check_target(plan, to)
    for item in plan.with_status(Status.FAILED):
        if item.failed_direction == "down":
            raise BadMigrationInput(
                f"{item.version}: a `down` stopped half-way; run `migrate down` again to finish it"
            )
    current = SemVer(plan.current) if plan.current else None
    chosen = []
    for item in plan.with_status(Status.PENDING, Status.FAILED):
        v = SemVer(item.version)
        if to is not None and v > to:
            continue
        if item.status is Status.PENDING and current is not None and v < current:
            raise BadMigrationInput(
                f"{item.version} ({item.file}) is pending but below the current version "
                f"{current}: give it a version above {current}"
            )
        if item.file is None:
            raise BadMigrationInput(f"{item.version}: run stopped half-way and its file is gone")
        chosen.append(item)
    return chosen


def select_down(plan: Plan, to: SemVer) -> list[PlanItem]:
    """Versions `down --to V` reverts, newest first; every one of them must have a `down`."""
    _check_target(plan, to)
    if plan.baseline is not None and to < SemVer(plan.baseline):
        raise BadMigrationInput(f"--to {to} is below the baseline {plan.baseline}")
    chosen = [
        i
        for i in plan.items
        if SemVer(i.version) > to
        and (
            i.status in (Status.APPLIED, Status.CHANGED, Status.MISSING)
            or (i.status is Status.FAILED)
        )
    ]
    chosen.sort(key=lambda i: SemVer(i.version), reverse=True)
    for i in chosen:
        if i.status is Status.FAILED and i.failed_direction == "up":
            # its `down` would undo documents the stopped `up` never reached
            raise BadMigrationInput(
                f"{i.version}: an `up` stopped half-way; run `migrate up` to finish it first"
            )
        if i.status is Status.MISSING or i.file is None:
            raise BadMigrationInput(f"{i.version}: cannot go down, its file is missing")
        if not i.has_down:
            raise BadMigrationInput(f"{i.version} ({i.file}) has no `down`: cannot go down past it")
    return chosen


def refuse_protected(items: Iterable[PlanItem], force: bool) -> None:
    """Files that declare protected writes run only with --force."""
    if force:
        return
    for i in items:
        if i.protected_writes:
            raise BadMigrationInput(
                f"{i.version} ({i.file}) writes protected collections "
                f"{list(i.protected_writes)}: run again with --force if that is intended"
            )


def applied_by_release(
    env: str, release: str | None, history: Iterable[VersionRecord], current: str | None
) -> AppliedVersions:
    """Versions that `release` brought up in `env` and that are still applied."""
    entries = [
        h
        for h in history
        if h.release == release and h.direction == "up" and h.outcome == "success"
    ]
    entries.sort(key=lambda h: SemVer(h.version))
    snapshots = [h.snapshot for h in entries if h.snapshot]
    return AppliedVersions(
        env=env,
        release=release,
        versions=[h.version for h in entries],
        schema_version=current,
        snapshot=snapshots[0] if snapshots else None,
    )
