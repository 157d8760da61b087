"""Resumable chunked passes over a collection (`ctx.migrate`).

Per chunk: read the next page in document-id order (overlapping with the previous chunk's
writes), wait for the previous chunk to commit, then save one checkpoint holding the committed
cursor and the new chunk's ids and update times, then queue the new chunk's conditional writes.
A resumed run re-reads only the chunk in flight and rewrites only documents whose update time
is still the one recorded, i.e. the ones the killed run never wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.migrations.errors import MigrationFailed
from shared.migrations.model import Checkpoint

if TYPE_CHECKING:
    from shared.migrations.context import MigrationContext, Transform

CONFLICT_ROUNDS = 3


def _apply(ctx: MigrationContext, snap: Any, transform: Transform) -> None:
    from shared.migrations.context import DELETE

    result = transform(snap)
    if result is None:
        return
    if result is DELETE:
        ctx.writer.delete(snap.reference, if_update_time=snap.update_time)
    elif isinstance(result, dict):
        ctx.writer.update(snap.reference, result, if_update_time=snap.update_time)
    else:
        raise MigrationFailed(f"transform returned {type(result).__name__}, not dict/DELETE/None")


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
    """Finish the chunk a killed run left in flight; returns how many documents it re-read."""
    recorded = dict(zip(cp.pending_ids, cp.pending_times, strict=True))
    snaps = list(ctx.db.get_all([coll.document(i) for i in cp.pending_ids]))
    ctx.docs_read += len(snaps)
    for snap in snaps:
        # An update time that moved means the killed run's write landed: leave it alone.
        if snap.exists and snap.update_time.rfc3339() == recorded.get(snap.id):
            _apply(ctx, snap, transform)
    _settle(ctx, transform)
    cp.cursor, cp.docs, cp.chunks = cp.pending_ids[-1], cp.docs + len(cp.pending_ids), cp.chunks + 1
    cp.pending_ids, cp.pending_times = [], []
    return len(snaps)


def _count(coll: Any) -> int | None:
    try:
        return int(coll.count().get()[0][0].value)
    except Exception:  # a progress total is nice to have, never a reason to fail
        return None


def run_pass(ctx: MigrationContext, collection: str, transform: Transform, key: str) -> None:
    from google.cloud.firestore_v1.field_path import FieldPath

    cp = ctx.checkpoints.setdefault(key, Checkpoint())
    if cp.done:
        ctx.log.info("%s: %s already done by an earlier run", ctx.version, key)
        return
    coll = ctx.db.collection(collection)
    ctx.progress.start(f"{ctx.version} {key}", _count(coll), cp.docs)
    ctx.writer.autoflush = False
    try:
        if cp.pending_ids:
            ctx.resumed_reread += _replay(ctx, coll, cp, transform)
        _loop(ctx, coll, cp, transform, FieldPath.document_id())
    finally:
        ctx.writer.autoflush = True
        ctx.progress.finish()


def _loop(
    ctx: MigrationContext, coll: Any, cp: Checkpoint, transform: Transform, doc_id: str
) -> None:
    page = coll.order_by(doc_id).limit(ctx.chunk_size)
    cursor, in_flight = cp.cursor, 0
    while True:
        query = page.start_after({doc_id: coll.document(cursor)}) if cursor else page
        chunk = list(query.stream())
        ctx.docs_read += len(chunk)
        if in_flight:
            _settle(ctx, transform)
            cp.cursor, cp.docs, cp.chunks = cursor, cp.docs + in_flight, cp.chunks + 1
            ctx.progress.advance(in_flight)
        cp.pending_ids = [s.id for s in chunk]
        cp.pending_times = [s.update_time.rfc3339() for s in chunk]
        cp.done = not chunk
        ctx.save_progress()
        if not chunk:
            return
        for snap in chunk:
            _apply(ctx, snap, transform)
        cursor, in_flight = chunk[-1].id, len(chunk)
