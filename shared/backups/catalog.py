"""`BackupCatalog` on the control project's Firestore: `backups/{id}`."""

from __future__ import annotations

from typing import Any

from shared.backups.model import BackupRecord

COLLECTION = "backups"


class FirestoreCatalog:
    def __init__(self, db: Any) -> None:
        self.db = db

    def put(self, record: BackupRecord) -> None:
        self.db.collection(COLLECTION).document(record.id).set(record.to_doc())

    def list(self, env: str) -> list[BackupRecord]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        mine = FieldFilter("env", "==", env)
        docs = self.db.collection(COLLECTION).where(filter=mine).stream()
        records = [BackupRecord.model_validate(d.to_dict()) for d in docs]
        return sorted(records, key=lambda r: r.started_at, reverse=True)

    def get(self, backup: str) -> BackupRecord | None:
        snap = self.db.collection(COLLECTION).document(backup).get()
        return BackupRecord.model_validate(snap.to_dict()) if snap.exists else None

    def remove(self, backup: str) -> None:
        self.db.collection(COLLECTION).document(backup).delete()
