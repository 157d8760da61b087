"""Schema state in the environment's own Firestore: `_schema/current` (the version),
`_schema/current/history/{version}` (the last thing that happened to each version) and
`_schema/current/audit/{id}` (append-only record of every run, repair and baseline)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.migrations.lock import MigrationLock
from shared.migrations.model import Checkpoint, SchemaCurrent, VersionRecord

CURRENT_PATH = "_schema/current"


class HistoryStore:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.current_ref = db.document(CURRENT_PATH)
        self.history = self.current_ref.collection("history")
        self.audit_log = self.current_ref.collection("audit")

    def entries(self) -> list[VersionRecord]:
        return [VersionRecord.model_validate(s.to_dict()) for s in self.history.stream()]

    def entry(self, version: str) -> VersionRecord | None:
        snap = self.history.document(version).get()
        return VersionRecord.model_validate(snap.to_dict()) if snap.exists else None

    def current(self) -> SchemaCurrent | None:
        snap = self.current_ref.get()
        return SchemaCurrent.model_validate(snap.to_dict()) if snap.exists else None

    def write(self, entry: VersionRecord) -> None:
        self.history.document(entry.version).set(entry.to_doc())

    def finish(self, entry: VersionRecord, current: SchemaCurrent | None) -> None:
        """The entry's outcome, the schema version (when it moved) and an audit record of the
        run land together (one atomic batch): the history doc keeps only the latest action."""
        batch = self.db.batch()
        batch.set(self.history.document(entry.version), entry.to_doc())
        if current is not None:
            batch.set(self.current_ref, current.to_doc())
        batch.set(self.audit_log.document(), _run_record(entry))
        batch.commit()

    def audit(self, action: str, actor: str, at: datetime, **detail: Any) -> None:
        self.audit_log.document().set({"action": action, "actor": actor, "at": at, **detail})

    def save_checkpoints(
        self,
        lock: MigrationLock,
        version: str,
        checkpoints: dict[str, Checkpoint],
        docs_read: int,
        docs_written: int,
    ) -> None:
        """The checkpoint lands only together with a renewal of a lock that is still ours."""
        fields = {
            "checkpoints": {k: c.to_doc() for k, c in checkpoints.items()},
            "docsRead": docs_read,
            "docsWritten": docs_written,
        }
        lock.renew_with([(self.history.document(version), fields)])


def _run_record(entry: VersionRecord) -> dict[str, Any]:
    keep = (
        "version",
        "direction",
        "outcome",
        "actor",
        "release",
        "run_id",
        "docs_read",
        "docs_written",
        "duration_ms",
        "error",
        "snapshot",
    )
    record = entry.model_dump(by_alias=True, include=set(keep))
    return {"action": entry.direction, "at": entry.finished_at or entry.started_at, **record}
