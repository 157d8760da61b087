"""Resumable chunked passes over a collection (`ctx.migrate`).

One query streams the collection in document-id order. The stream is cut into chunks; before
a chunk's writes are queued, one checkpoint is saved holding the cursor (every document up to
it is committed) and the ids and update times of every document that may be in flight. Writes
go through BulkWriter without stopping: a chunk counts as committed when BulkWriter has
reported each of its writes, and at most `DEPTH` chunks are in flight.

A resumed run re-reads only the documents that were in flight and rewrites only those whose
update time is still the one recorded, i.e. the ones the killed run never wrote. Every write
is conditional on the update time it was read with, so a document the app changed meanwhile
is read again and transformed afresh instead of being overwritten.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from shared.migrations.errors import MigrationFailed
from shared.migrations.model import Checkpoint

if TYPE_CHECKING:
    from shared.migrations.context import MigrationContext, Transform

CONFLICT_ROUNDS = 3
DEPTH = 3  # chunks in flight at once: keeps BulkWriter busy; bounds what a resume re-reads
WAIT_NUDGE_S = 2.0  # BulkWriter only re-sends retries when asked: flush if a chunk stalls


def _decide(snap: Any, transform: Transform) -> Any:
    """The transform's verdict for one document: field updates, DELETE, or None."""
    from shared.migrations.context import DELETE

    result = transform(snap)
    if result is None or result is DELETE or isinstance(result, dict):
        return result
    raise MigrationFailed(f"transform returned {type(result).__name__}, not dict/DELETE/None")


def _queue(ctx: MigrationContext, snap: Any, result: Any) -> None:
    from shared.migrations.context import DELETE

    if result is DELETE:
        ctx.writer.delete(snap.reference, if_update_time=snap.update_time)
    else:
        ctx.writer.update(snap.reference, result, if_update_time=snap.update_time)


def _apply(ctx: MigrationContext, snap: Any, transform: Transform) -> None:
    result = _decide(snap, transform)
    if result is not None:
        _queue(ctx, snap, result)


def _settle(ctx: MigrationContext, transform: Transform) -> None:
    """Wait for queued writes; redo documents that changed between our read and our write."""
    ctx.writer.flush()
    for _ in range(CONFLICT_ROUNDS):
        conflicts = ctx.writer.take_conflicts()
        if not conflicts:
            return
        snaps = list(ctx.db.get_all([ctx.db.document(p) for p in conflicts]))
        ctx.docs_read += len(snaps)
        for snap in snaps:
            if snap.exists:
                _apply(ctx, snap, transform)
        ctx.writer.flush()
    left = ctx.writer.take_conflicts()
    if left:
        raise MigrationFailed(
            f"{len(left)} document(s) kept changing under the migration, first {left[0]}"
        )


def _replay(ctx: MigrationContext, coll: Any, cp: Checkpoint, transform: Transform) -> int:
    """Finish the documents a killed run left in flight; returns how many it re-read."""
    pairs = cp.in_flight()
    recorded = dict(pairs)
    snaps = list(ctx.db.get_all([coll.document(i) for i, _ in pairs]))
    ctx.docs_read += len(snaps)
    for snap in snaps:
        # An update time that moved means the killed run's write landed: leave it alone.
        if snap.exists and snap.update_time.rfc3339() == recorded.get(snap.id):
            _apply(ctx, snap, transform)
    _settle(ctx, transform)
    # in flight = every document after the cursor up to the last one recorded, in stream order
    cp.cursor, cp.docs = pairs[-1][0], cp.docs + len(pairs)
    cp.chunks += 1
    cp.set_in_flight([], [])
    return len(snaps)


@dataclass
class _Chunk:
    ids: list[str]
    times: list[str]
    outstanding: int = 0  # writes queued and not yet reported back by BulkWriter
    sealed: bool = False  # every document of the chunk has been through the transform

    @property
    def committed(self) -> bool:
        return self.sealed and self.outstanding <= 0


@dataclass
class _Flight:
    """Chunks whose writes are queued, oldest first, with what BulkWriter still owes them."""

    chunks: deque[_Chunk] = field(default_factory=deque)
    owner: dict[str, _Chunk] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def settled(self, path: str) -> None:  # runs on BulkWriter's threads
        with self.changed:
            chunk = self.owner.pop(path, None)
            if chunk is not None:
                chunk.outstanding -= 1
                if chunk.committed:  # wake the main thread once per chunk, not per write
                    self.changed.notify_all()

    def open(self, chunk: _Chunk) -> None:
        with self.changed:
            self.chunks.append(chunk)

    def expect(self, chunk: _Chunk, path: str) -> None:
        # registered before the write is queued, so its report can never arrive first
        with self.changed:
            chunk.outstanding += 1
            self.owner[path] = chunk

    def seal(self, chunk: _Chunk) -> None:
        with self.changed:
            chunk.sealed = True
            self.changed.notify_all()

    def pending(self) -> tuple[list[str], list[str]]:
        with self.changed:
            ids = [i for c in self.chunks for i in c.ids]
            times = [t for c in self.chunks for t in c.times]
        return ids, times

    def wait_oldest(self, ctx: MigrationContext) -> None:
        with self.changed:
            if self.changed.wait_for(lambda: self.chunks[0].committed, WAIT_NUDGE_S):
                return
        ctx.writer.flush()  # sends a last partial batch and any retries BulkWriter parked

    def pop_committed(self) -> list[_Chunk]:
        done = []
        with self.changed:
            while self.chunks and self.chunks[0].committed:
                done.append(self.chunks.popleft())
        return done


def _count_into(coll: Any, progress: Any) -> None:
    """The collection's size for the progress bar, counted off the main thread."""

    def count() -> None:
        try:
            progress.set_total(int(coll.count().get()[0][0].value))
        except Exception:  # a progress total is nice to have, never a reason to fail
            return

    threading.Thread(target=count, daemon=True, name="migrate-count").start()


def run_pass(
    ctx: MigrationContext, collection: str, transform: Transform, key: str, conditional: bool
) -> None:
    cp = ctx.checkpoints.setdefault(key, Checkpoint())
    if cp.done:
        ctx.log.info("%s: %s already done by an earlier run", ctx.version, key)
        return
    coll = ctx.db.collection(collection)
    ctx.progress.start(f"{ctx.version} {key}", None, cp.docs)
    _count_into(coll, ctx.progress)
    ctx.writer.autoflush, ctx.writer.conditional = False, conditional
    try:
        if cp.pending:
            ctx.resumed_reread += _replay(ctx, coll, cp, transform)
        _Pass(ctx, coll, cp, transform).run()
    finally:
        ctx.writer.autoflush, ctx.writer.conditional = True, True
        ctx.writer.on_settled = None
        ctx.progress.finish()


class _Pass:
    def __init__(self, ctx: MigrationContext, coll: Any, cp: Checkpoint, transform: Any) -> None:
        self.ctx, self.coll, self.cp, self.transform = ctx, coll, cp, transform
        self.flight = _Flight()
        ctx.writer.on_settled = self.flight.settled

    def _stream(self) -> Any:
        from google.cloud.firestore_v1.field_path import FieldPath

        if not self.cp.cursor:
            return self.coll.stream()  # Firestore's default order is by document id
        doc_id = FieldPath.document_id()
        query = self.coll.order_by(doc_id)
        return query.start_after({doc_id: self.coll.document(self.cp.cursor)}).stream()

    def run(self) -> None:
        stream = self._stream()
        while chunk := list(islice(stream, self.ctx.chunk_size)):
            self.ctx.docs_read += len(chunk)
            self._advance(block=len(self.flight.chunks) >= DEPTH)
            self._launch(chunk)
        _settle(self.ctx, self.transform)
        self._advance(block=False)
        self.cp.done = True
        self.cp.set_in_flight([], [])
        self.ctx.save_progress()

    def _advance(self, *, block: bool) -> None:
        """Move the cursor past committed chunks (waiting for the oldest if `block`)."""
        if block:
            self.flight.wait_oldest(self.ctx)
        done = self.flight.pop_committed()
        # a write refused because the document changed since we read it is final for
        # BulkWriter but not done for us: redo those before the cursor passes them
        if self.ctx.writer.has_conflicts():
            _settle(self.ctx, self.transform)
        for chunk in done:
            self.cp.cursor, self.cp.docs = chunk.ids[-1], self.cp.docs + len(chunk.ids)
            self.cp.chunks += 1
            self.ctx.progress.advance(len(chunk.ids))

    def _launch(self, snaps: list[Any]) -> None:
        """Checkpoint first (cursor + everything that may be in flight), then queue writes."""
        chunk = _Chunk([s.id for s in snaps], [s.update_time.rfc3339() for s in snaps])
        ids, times = self.flight.pending()
        self.cp.set_in_flight(ids + chunk.ids, times + chunk.times)
        self.ctx.save_progress()
        self.flight.open(chunk)
        for snap in snaps:
            result = _decide(snap, self.transform)
            if result is None:
                continue
            if not self.ctx.dry_run:  # a dry run sends nothing, so nothing reports back
                self.flight.expect(chunk, snap.reference.path)
            _queue(self.ctx, snap, result)
        self.flight.seal(chunk)
