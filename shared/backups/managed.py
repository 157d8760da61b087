"""Google Cloud backups: a managed export of the env's database to Cloud Storage
(`FirestoreAdminClient.export_documents`), imported back with `import_documents`; both are
long-running operations started here and polled by the monitoring tick with `get_operation`,
so neither has to end within one function run. Retention deletes the export's objects."""

from __future__ import annotations

from typing import Any

from shared.backups.model import BackupRecord, Imported
from shared.clock import Clock, utcnow
from shared.errors import ControlPlaneError


class BackupFailed(ControlPlaneError):
    """The export or import did not complete; the reason is Firestore's."""


class ManagedExports:
    def __init__(self, clock: Clock = utcnow, admin: Any = None) -> None:
        self.clock, self._admin = clock, admin

    def admin(self) -> Any:
        if self._admin is None:
            from google.cloud import firestore_admin_v1

            self._admin = firestore_admin_v1.FirestoreAdminClient()
        return self._admin

    def start(self, record: BackupRecord) -> BackupRecord:
        """Start the export and return at once: the monitoring tick polls its long-running
        operation (`check`), so an export longer than a function run is fine."""
        from google.cloud import firestore

        roots = sorted(c.id for c in firestore.Client(project=record.project).collections())
        request = {
            "name": f"projects/{record.project}/databases/(default)",
            "output_uri_prefix": record.location,
        }
        try:
            operation = self.admin().export_documents(request=request)
        except Exception as exc:
            raise BackupFailed(f"managed export not started: {str(exc)[:300]}") from None
        return record.model_copy(update={"lro": operation.operation.name, "collections": roots})

    def check(self, record: BackupRecord) -> BackupRecord | None:
        if record.lro is None:
            return record
        if not self._ended(record.lro, "export"):
            return None
        return record.model_copy(update={"finished_at": self.clock()})

    def restore(self, record: BackupRecord, collections: list[str]) -> Imported:
        """Start the import and return at once with its long-running operation (`restored`
        polls it): importing a large database takes longer than a function may run."""
        request = {
            "name": f"projects/{record.project}/databases/(default)",
            "input_uri_prefix": record.location,
            "collection_ids": collections,
        }
        try:
            operation = self.admin().import_documents(request=request)
        except Exception as exc:
            raise BackupFailed(f"managed import not started: {str(exc)[:300]}") from None
        return Imported(lro=operation.operation.name)  # a managed import does not count

    def restored(self, lro: str) -> bool:
        return self._ended(lro, "import")

    def delete(self, record: BackupRecord) -> None:
        from google.cloud import storage  # type: ignore[attr-defined]

        bucket, _, prefix = record.location.removeprefix("gs://").partition("/")
        client = storage.Client(project=record.project)
        for blob in client.list_blobs(bucket, prefix=prefix + "/"):
            blob.delete()

    def _ended(self, lro: str, what: str) -> bool:
        """Whether the long-running operation `lro` has ended; `BackupFailed` with Firestore's
        reason if it ended in an error."""
        state = self.admin().get_operation(request={"name": lro})
        if not state.done:
            return False
        if state.HasField("error") and state.error.code != 0:
            raise BackupFailed(f"managed {what} failed: {state.error.message[:300]}")
        return True
