"""A Firestore read-write transaction that begins with its first read.

The client library's transactions open with a BeginTransaction call of their own. Firestore
can also begin one inside the first BatchGetDocuments (`newTransaction`), as the Node client
does by default: one round trip fewer for every event the bus handles, the hot path of the
control plane (a transition is then a read and a commit, plus its outbox's done mark). It
speaks the same API over the client's own channel and credentials; the other adapters, off
the hot path, keep the library's `@firestore.transactional`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from google.api_core.exceptions import GoogleAPICallError
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1.types import (
    BatchGetDocumentsRequest,
    CommitRequest,
    RollbackRequest,
    TransactionOptions,
    Write,
)

T = TypeVar("T")
Doc = dict[str, Any]
log = logging.getLogger(__name__)


class LazyTransaction:
    """One attempt: reads through the transaction (begun by the first), writes staged until
    `commit`. `retry_of` is the attempt it retries (Firestore gives that one priority)."""

    def __init__(self, db: firestore.Client, retry_of: bytes | None = None) -> None:
        self._db, self._retry_of = db, retry_of
        self.id: bytes | None = None
        self._writes: list[Write] = []

    def read(self, refs: Sequence[Any]) -> dict[str, Doc | None]:
        """Each document's data by path (None: missing)."""
        request = BatchGetDocumentsRequest(
            database=self._db._database_string,
            documents=[ref._document_path for ref in refs],
        )
        if self.id is None:
            request.new_transaction = TransactionOptions(
                read_write=TransactionOptions.ReadWrite(retry_transaction=self._retry_of)
            )
        else:
            request.transaction = self.id
        by_name = {ref._document_path: ref.path for ref in refs}
        found: dict[str, Doc | None] = {}
        for response in self._api.batch_get_documents(
            request=request, metadata=self._db._rpc_metadata
        ):
            if response.transaction:
                self.id = response.transaction
            if response.found.name:
                # a document's top level is always a map (never a vector or BSON value)
                fields = _helpers.decode_dict(response.found.fields, self._db)
                found[by_name[response.found.name]] = cast(Doc, fields)
            elif response.missing:
                found[by_name[response.missing]] = None
        return found

    def set(self, ref: Any, data: Doc) -> None:
        """Stage a write; raises ValueError/TypeError/OverflowError for a value that cannot be
        encoded (before anything is sent)."""
        self._writes.extend(_helpers.pbs_for_set_no_merge(ref._document_path, data))

    def update(self, ref: Any, fields: Doc) -> None:
        """Stage an update of some fields of a document that must exist."""
        self._writes.extend(_helpers.pbs_for_update(ref._document_path, fields, None))

    @property
    def writes(self) -> int:
        return len(self._writes)

    def commit(self) -> None:
        """Commit the staged writes, atomically with the reads (a transaction that read
        nothing commits them as one batch)."""
        request = CommitRequest(database=self._db._database_string, writes=self._writes)
        if self.id is not None:
            request.transaction = self.id
        self._api.commit(request=request, metadata=self._db._rpc_metadata)

    def rollback(self) -> None:
        """Let go of what the reads locked; a failed rollback only leaves them to time out."""
        if self.id is None:
            return
        request = RollbackRequest(database=self._db._database_string, transaction=self.id)
        try:
            self._api.rollback(request=request, metadata=self._db._rpc_metadata)
        except GoogleAPICallError as exc:
            log.debug("rollback failed: %s", exc)

    @property
    def _api(self) -> Any:
        return self._db._firestore_api


def attempts(db: firestore.Client, work: Callable[[LazyTransaction], T]) -> Callable[[], T]:
    """One attempt of `work` per call, each retrying the last (for a retry loop): `work` reads
    and stages writes; a transaction with writes is committed, one without is rolled back,
    and one that raised is rolled back before the error goes on."""
    last: bytes | None = None

    def attempt() -> T:
        nonlocal last
        tx = LazyTransaction(db, retry_of=last)
        try:
            result = work(tx)
            if tx.writes:
                tx.commit()
            else:
                tx.rollback()
        except BaseException:
            tx.rollback()
            raise
        finally:
            last = tx.id or last
        return result

    return attempt
