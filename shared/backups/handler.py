"""Backups of an environment's database: taken before a production rollout migrates, before a
rollback restores anything, and by hand; listed, restored, and kept N per environment."""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.backups.model import BackupRecord, Kind, Trigger, backup_id, expired
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
    ) -> BackupRecord:
        """Export the env's database now; recorded in the catalog, older ones beyond
        `backups_keep` deleted."""
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
        )
        done = self.target.take(record)
        self.catalog.put(done)
        self._retain(env)
        return done

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
        self, backup: str, env: EnvConfig, *, force: bool, include_protected: bool
    ) -> tuple[BackupRecord, list[str], int | None]:
        """Import `backup` into `env`: the backup, the collections written and the count."""
        record = self.catalog.get(backup)
        if record is None:
            raise Refused(f"no backup {backup!r} (see `releasectl backups list --env {env.name}`)")
        if record.env != env.name:
            raise Refused(f"backup {backup} is of {record.env}, not {env.name}")
        if env.name == PRODUCTION and not force:
            raise Refused("restoring production overwrites its documents: add --force")
        collections = [
            c for c in record.collections if include_protected or c not in PROTECTED_COLLECTIONS
        ]
        written = self.target.restore(record, collections)
        return record, collections, written
