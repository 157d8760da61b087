"""Backup and restore of an environment's database on the Firestore emulator.

Seeds N documents (default 50,000, in four collections, one with a subcollection), then times
`Backups.take` (a document dump: one kindless collection-group stream into a gzip file) and
`Backups.restore` (a BulkWriter pass), against the raw operations measured in the same run:
streaming every document (the floor of a dump) and the BulkWriter seeding (the floor of a
restore).

    .venv/bin/python benchmarks/backup_restore.py [--documents 50000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROJECT = "demo-bench-backups"


def seed(db: Any, n: int) -> float:
    start = time.perf_counter()
    writer = db.bulk_writer()
    for i in range(n):
        collection = ("featureFlags", "profiles", "events", "users")[i % 4]
        path = f"{collection}/d{i:06d}" if i % 10 else f"profiles/p{i:06d}/notes/n{i:06d}"
        writer.set(db.document(path), {"n": i, "name": f"doc {i}", "tags": ["a", "b"], "ok": True})
    writer.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=50_000)
    args = parser.parse_args()
    from google.cloud import firestore

    from benchmarks._emulator import firestore_emulator
    from shared.backups.dump import DocumentDumps
    from shared.backups.handler import Backups
    from shared.config import EnvConfig
    from tests.unit.test_backup_step import MemoryCatalog

    with firestore_emulator():
        db = firestore.Client(project=PROJECT)
        seeded = seed(db, args.documents)
        start = time.perf_counter()
        streamed = sum(1 for _ in db.collection_group("").stream())
        stream_s = time.perf_counter() - start

        dumps = DocumentDumps(Path(tempfile.mkdtemp(prefix="bench-backups-")), lambda p: db)
        service = Backups(dumps, MemoryCatalog(), "document-dump", dumps.location)
        env = EnvConfig(name="dev", project=PROJECT)
        start = time.perf_counter()
        record = service.take(env, "manual")
        take_s = time.perf_counter() - start
        size = (Path(record.location) / "documents.jsonl.gz").stat().st_size
        start = time.perf_counter()
        _, _, written = service.restore(record.id, env, force=True, include_protected=True)
        restore_s = time.perf_counter() - start

    assert streamed == record.documents == written == args.documents
    print(f"{args.documents} documents ({size / 1e6:.1f} MB gzip) on the Firestore emulator:")
    print(
        f"  backup  {take_s:6.1f} s ({args.documents / take_s:,.0f} docs/s); "
        f"raw stream {stream_s:.1f} s ({take_s / stream_s:.2f}x)"
    )
    print(
        f"  restore {restore_s:6.1f} s ({args.documents / restore_s:,.0f} docs/s); "
        f"raw BulkWriter seeding {seeded:.1f} s ({restore_s / seeded:.2f}x)"
    )


if __name__ == "__main__":
    main()
