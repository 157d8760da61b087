"""Backups of an environment's Firestore database: what one is, and which to keep (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Kind = Literal["managed-export", "document-dump"]
Trigger = Literal["rollout", "rollback", "manual"]


class RestoreRun(BaseModel):
    """A managed import of a backup into its env, running on after the run that started it:
    polled by the monitoring tick until its long-running operation ends (docs/BACKUPS.md)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    operation: str | None = None  # the `backup.restore` operation that asked, closed at its end
    lro: str  # the import's long-running operation
    collections: list[str] = Field(default_factory=list)
    started_at: datetime
    finished_at: datetime | None = None  # set when it has ended, as it is delivered
    error: str | None = None  # why it failed (Firestore's reason)

    @property
    def running(self) -> bool:
        return self.finished_at is None and self.error is None


class Imported(BaseModel):
    """What starting a restore gave: the documents written (a dump, done at once, when known),
    or the long-running operation of an import that runs on (`lro`)."""

    documents: int | None = None
    lro: str | None = None


class BackupRecord(BaseModel):
    """One backup, as kept in `backups/{id}` of the control project and on the rollout's
    `steps.backup`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    id: str
    env: str
    project: str
    kind: Kind
    location: str  # gs://bucket/env/id, or a directory under .local/backups
    started_at: datetime
    finished_at: datetime | None = None
    collections: list[str] = Field(default_factory=list)
    documents: int | None = None  # known for a document dump; a managed export does not say
    trigger: Trigger = "manual"
    release: str | None = None
    by: str | None = None
    # a managed export still running: its long-running operation, polled by the monitoring
    # tick until it ends (docs/BACKUPS.md, "Long exports")
    lro: str | None = None
    error: str | None = None  # why it failed
    attempt: int | None = None  # the rollout attempt whose backup step it is (trigger rollout)
    for_operation: str | None = None  # the `backup.take` operation that asked for it
    restoring: RestoreRun | None = None  # a managed import of it still running

    @property
    def running(self) -> bool:
        return self.finished_at is None and self.error is None

    def to_doc(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, mode="python")


def backup_id(env: str, at: datetime, trigger: Trigger, release: str | None) -> str:
    """Sortable by time; one per (env, moment, trigger, release)."""
    stamp = at.strftime("%Y%m%dT%H%M%S%fZ")
    return f"{env}-{stamp}-{trigger}" + (f"-{release}" if release else "")


def expired(records: list[BackupRecord], keep: int) -> list[BackupRecord]:
    """The backups of one env beyond the newest `keep` (retention), oldest first; never one
    being restored (its import still reads the files)."""
    newest = sorted(records, key=lambda r: r.started_at, reverse=True)
    old = [r for r in newest[keep:] if r.restoring is None]
    return sorted(old, key=lambda r: r.started_at)
