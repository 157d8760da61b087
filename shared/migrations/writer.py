"""The chunked writer a migration writes through: google-cloud-firestore's BulkWriter, plus the
protected-collection guard, dry-run counting and precondition conflicts reported per document.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from shared.migrations.errors import MigrationFailed, ProtectedWrite
from shared.migrations.model import PROTECTED_COLLECTIONS

# gRPC codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html)
_NOT_FOUND, _FAILED_PRECONDITION = 5, 9
_TRANSIENT = frozenset({4, 8, 10, 13, 14})  # deadline, exhausted, aborted, internal, unavailable
MAX_ATTEMPTS = 10


def bulk_options(local: bool) -> Any:
    """Emulator: no ramp-up (it is one local process). Google Cloud: BulkWriter's own 500/50/5
    ramp-up from 500 ops/s, with the ceiling raised from its default 500 so the ramp can climb."""
    from google.cloud.firestore_v1.bulk_writer import BulkWriterOptions

    if local:
        return BulkWriterOptions(initial_ops_per_second=20_000, max_ops_per_second=20_000)
    return BulkWriterOptions(initial_ops_per_second=500, max_ops_per_second=10_000)


def collections_of(path: str) -> list[str]:
    """Collection ids along a document path (`users/u1/wallet/w` -> users, wallet)."""
    return path.split("/")[0::2]


def check_protected(path: str, allowed: Iterable[str]) -> None:
    hit = [c for c in collections_of(path) if c in PROTECTED_COLLECTIONS and c not in allowed]
    if hit:
        raise ProtectedWrite(
            f"write to {path} refused: {hit[0]!r} is a protected collection; the migration "
            "must declare it in `protected_writes` and the run needs --force"
        )


class ChunkedWriter:
    """Writes through one BulkWriter, flushed every `chunk_size` operations.

    In a dry run nothing is sent: writes are checked and counted only. Updates and deletes can
    carry an update-time precondition; a document that changed since it was read is reported
    by `take_conflicts()` instead of being overwritten.
    """

    def __init__(
        self,
        db: Any,
        *,
        dry_run: bool,
        allowed_protected: Iterable[str] = (),
        chunk_size: int = 500,
        local: bool = True,
    ) -> None:
        self.db, self.dry_run, self.chunk_size = db, dry_run, chunk_size
        self.allowed = frozenset(allowed_protected)
        self._local = local
        self._lock = threading.Lock()
        self._bulk: Any = None
        self._queued = 0
        self.autoflush = True
        # False: update-time preconditions are dropped (a pass that opted out of them)
        self.conditional = True
        self.written = 0
        self._conflicts: list[str] = []
        self._errors: list[str] = []
        # called (from BulkWriter's threads) once per write that is final: done or given up
        self.on_settled: Callable[[str], None] | None = None

    def _writer(self) -> Any:
        if self._bulk is None:
            from google.cloud.firestore_v1.bulk_writer import BulkWriter

            self._bulk = BulkWriter(self.db, bulk_options(self._local))
            self._bulk.on_write_result(self._on_result)
            self._bulk.on_write_error(self._on_error)
        return self._bulk

    def _on_result(self, ref: Any, _result: Any, _bw: Any) -> None:
        with self._lock:
            self.written += 1
        if self.on_settled is not None:
            self.on_settled(ref.path)

    def _on_error(self, failure: Any, _bw: Any) -> bool:
        if failure.code in _TRANSIENT and failure.attempts < MAX_ATTEMPTS:
            return True
        path = failure.operation.reference.path
        with self._lock:
            if failure.code in (_FAILED_PRECONDITION, _NOT_FOUND):
                self._conflicts.append(path)
            else:
                self._errors.append(f"{path}: code {failure.code}: {failure.message}")
        if self.on_settled is not None:
            self.on_settled(path)
        return False

    def _ref(self, doc: Any) -> Any:
        ref = self.db.document(doc) if isinstance(doc, str) else doc
        check_protected(ref.path, self.allowed)
        return ref

    def _option(self, if_update_time: Any) -> Any:
        if if_update_time is None or not self.conditional:
            return None
        return self.db.write_option(last_update_time=if_update_time)

    def _queued_one(self) -> None:
        if self.dry_run:
            self.written += 1
            return
        self._queued += 1
        if self.autoflush and self._queued >= self.chunk_size:
            self.flush()

    def set(self, doc: Any, data: dict[str, Any], *, merge: bool = False) -> None:
        ref = self._ref(doc)
        if not self.dry_run:
            self._writer().set(ref, data, merge=merge)
        self._queued_one()

    def update(self, doc: Any, fields: dict[str, Any], *, if_update_time: Any = None) -> None:
        ref = self._ref(doc)
        if not self.dry_run:
            self._writer().update(ref, fields, option=self._option(if_update_time))
        self._queued_one()

    def delete(self, doc: Any, *, if_update_time: Any = None) -> None:
        ref = self._ref(doc)
        if not self.dry_run:
            self._writer().delete(ref, option=self._option(if_update_time))
        self._queued_one()

    def flush(self) -> None:
        """Wait until every queued write is committed (or has failed for good)."""
        if self.dry_run or self._bulk is None:
            return
        # BulkWriter.flush() shuts its thread pool down and a later flush() is then a no-op
        # that leaves new writes unsent (google-cloud-firestore 2.x); re-arm the pool first.
        self._bulk._ensure_executor()
        self._bulk.flush()
        self._queued = 0
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            raise MigrationFailed(f"{len(errors)} write(s) failed, first: {errors[0]}")

    def has_conflicts(self) -> bool:
        with self._lock:
            return bool(self._conflicts)

    def take_conflicts(self) -> list[str]:
        with self._lock:
            conflicts, self._conflicts = self._conflicts, []
        return conflicts

    def close(self) -> None:
        if self._bulk is not None:
            self.flush()
            self._bulk.close()
            self._bulk = None
