"""What backups need from outside: a place that exports an env's database and imports it back."""

from __future__ import annotations

from typing import Protocol

from shared.backups.model import BackupRecord, Imported


class BackupTarget(Protocol):
    def start(self, record: BackupRecord) -> BackupRecord:
        """Export `record.project`'s database to `record.location`: the record completed
        (finished, collections, document count when known), or, for an export that runs on
        (a managed export), with its long-running operation in `lro`. Raises on failure."""
        ...

    def check(self, record: BackupRecord) -> BackupRecord | None:
        """A running backup's progress: None while it runs, the record completed when it has
        finished; raises if it failed."""
        ...

    def restore(self, record: BackupRecord, collections: list[str]) -> Imported:
        """Import `collections` of the backup into its project (documents with the same path
        are overwritten; others are left): done (the documents written, when known), or, for
        an import that runs on (a managed import), its long-running operation in `lro`.
        Raises if it could not be started."""
        ...

    def restored(self, lro: str) -> bool:
        """Whether the import with long-running operation `lro` has ended; raises with
        Firestore's reason if it failed."""
        ...

    def delete(self, record: BackupRecord) -> None:
        """Remove the backup's files (retention)."""
        ...


class BackupCatalog(Protocol):
    def put(self, record: BackupRecord) -> None: ...

    def list(self, env: str) -> list[BackupRecord]: ...

    def get(self, backup: str) -> BackupRecord | None: ...

    def remove(self, backup: str) -> None: ...
