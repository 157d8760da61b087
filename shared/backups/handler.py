"""Backups of an environment's database: taken before a production rollout migrates, before a
rollback restores anything, and by hand; listed, restored, and kept N per environment."""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.backups.model import BackupRecord, Kind, RestoreRun, Trigger, backup_id, expired
from shared.backups.ports import BackupCatalog, BackupTarget
from shared.clock import Clock, utcnow
from shared.config import PRODUCTION, EnvConfig
from shared.errors import Refused
from shared.migrations.model import PROTECTED_COLLECTIONS

log = logging.getLogger(__name__)


class Backups:
    def __init__(
        self,
        target: BackupTarget,
        catalog: BackupCatalog,
        kind: Kind,
        location: Callable[[str, str], str],
        clock: Clock = utcnow,
    ) -> None:
        self.target, self.catalog, self.clock = target, catalog, clock
        self.kind = kind
        self._location = location  # (env, id) -> where the backup goes

    def take(
        self,
        env: EnvConfig,
        trigger: Trigger,
        release: str | None = None,
        by: str | None = None,
        *,
        attempt: int | None = None,
        for_operation: str | None = None,
    ) -> BackupRecord:
        """Back the env's database up now, recorded in the catalog: finished (a dump), or
        running (a managed export, which `settle` finishes on a later tick). Older ones
        beyond `backups_keep` are deleted once it has finished. `Refused` while a backup is
        being restored into the env: the copy would hold a half-imported database (a
        rollout's backup step then fails, saying so, before anything migrates)."""
        importing = _importing(self.catalog.list(env.name))
        if importing is not None:
            raise Refused(
                f"{_restoring(*importing)}: a backup now would hold a half-imported database; "
                "take it once the restore has ended"
            )
        now = self.clock()
        ident = backup_id(env.name, now, trigger, release)
        record = BackupRecord(
            id=ident,
            env=env.name,
            project=env.project,
            kind=self.kind,
            location=self._location(env.name, ident),
            started_at=now,
            trigger=trigger,
            release=release,
            by=by,
            attempt=attempt,
            for_operation=for_operation,
        )
        started = self.target.start(record)
        self.catalog.put(started)
        if not started.running:
            self._retain(env)
        return started

    def settle(
        self,
        env: EnvConfig,
        deliver: Callable[[BackupRecord], None],
        still: Callable[[BackupRecord], None] | None = None,
    ) -> int:
        """The env's running backups and imports that have ended since: each handed to
        `deliver` (its result's destination), then recorded as ended, so a crash in between
        delivers it again (its delivery is idempotent). An ended export comes finished or
        failed with why; an ended import as its backup with `restoring` ended (finished or
        failed). An export still running is handed to `still`. How many ended."""
        ended = exported = 0
        for record in self.catalog.list(env.name):
            if record.running:
                done = self._export_ended(record)
                if done is None:
                    if still is not None:
                        still(record)
                    continue
                deliver(done)
                self.catalog.put(done)
                ended, exported = ended + 1, exported + 1
            elif record.restoring is not None:
                run = self._import_ended(record.restoring)
                if run is None:
                    continue
                deliver(record.model_copy(update={"restoring": run}))
                self.catalog.put(record.model_copy(update={"restoring": None}))
                ended += 1
        if exported:
            self._retain(env)
        return ended

    def _export_ended(self, record: BackupRecord) -> BackupRecord | None:
        try:
            return self.target.check(record)
        except Exception as exc:  # the export's own failure
            return record.model_copy(update={"error": _failure(exc)})

    def _import_ended(self, run: RestoreRun) -> RestoreRun | None:
        try:
            if not self.target.restored(run.lro):
                return None
        except Exception as exc:  # the import's own failure
            return run.model_copy(update={"error": _failure(exc)})
        return run.model_copy(update={"finished_at": self.clock()})

    def _retain(self, env: EnvConfig) -> None:
        for old in expired(self.catalog.list(env.name), env.backups_keep):
            try:
                self.target.delete(old)
                self.catalog.remove(old.id)
            except Exception as exc:  # the next backup tries again
                log.warning("backup %s not deleted: %s", old.id, type(exc).__name__)

    def of_env(self, env: str) -> list[BackupRecord]:
        return self.catalog.list(env)

    def restore(
        self,
        backup: str,
        env: EnvConfig,
        *,
        force: bool,
        include_protected: bool,
        for_operation: str | None = None,
    ) -> tuple[BackupRecord, list[str], int | None]:
        """Import `backup` into `env`: the backup, the collections written and the count (when
        known). An import that runs on (a managed import) is recorded on the backup
        (`restoring`, for `for_operation`), which `settle` ends on a later tick."""
        record = self.catalog.get(backup)
        if record is None:
            raise Refused(f"no backup {backup!r} (see `releasectl backups list --env {env.name}`)")
        if record.env != env.name:
            raise Refused(f"backup {backup} is of {record.env}, not {env.name}")
        if record.error is not None:
            raise Refused(f"backup {backup} failed ({record.error}): nothing to restore")
        if record.running:
            raise Refused(f"backup {backup} is still being taken: restore it once it is done")
        if env.name == PRODUCTION and not force:
            raise Refused("restoring production overwrites its documents: add --force")
        started = self._busy(env, for_operation)
        if started is not None:  # this operation's runner carried out again: already running
            return started[0], started[1].collections, None
        collections = [
            c for c in record.collections if include_protected or c not in PROTECTED_COLLECTIONS
        ]
        imported = self.target.restore(record, collections)
        if imported.lro is None:
            return record, collections, imported.documents
        run = RestoreRun(
            operation=for_operation,
            lro=imported.lro,
            collections=collections,
            started_at=self.clock(),
        )
        record = record.model_copy(update={"restoring": run})
        self.catalog.put(record)
        return record, collections, None

    def _busy(
        self, env: EnvConfig, for_operation: str | None
    ) -> tuple[BackupRecord, RestoreRun] | None:
        """One restore at a time per env, and none over a backup still being taken: a second
        import over a running one (or an export reading while it writes) mixes states. The
        import `for_operation` already started, if it did (found again, not refused)."""
        records = self.catalog.list(env.name)
        importing = _importing(records)
        if importing is not None:
            other, run = importing
            if for_operation is not None and run.operation == for_operation:
                return other, run
            raise Refused(f"{_restoring(other, run)}: wait for it to end")
        for other in records:
            if other.running:
                raise Refused(
                    f"backup {other.id} of {env.name} is still being taken: restore once it "
                    "has ended"
                )
        return None


def _importing(records: list[BackupRecord]) -> tuple[BackupRecord, RestoreRun] | None:
    """Of one env's backups, the one being restored into it now, with its import, if any."""
    for record in records:
        if record.restoring is not None:
            return record, record.restoring
    return None


def _restoring(record: BackupRecord, run: RestoreRun) -> str:
    return (
        f"backup {record.id} is still being restored into {record.env} (operation "
        f"{run.operation or run.lro})"
    )


def _failure(exc: Exception) -> str:
    """An export's or an import's own failure, as recorded (Firestore's reason, capped)."""
    return str(exc)[:500] or type(exc).__name__
