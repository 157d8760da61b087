"""Helpers shared by the migrations integration tests (holds no tests itself)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.config import PlaneConfig
from shared.local import emulators
from shared.migrations import files
from shared.migrations.handler import Engine
from shared.migrations.snapshot import EmulatorSnapshots

DEV, PROD = "dev", "production"


def client(project: str) -> Any:
    from google.cloud import firestore

    return firestore.Client(project=project)


def wipe(host: str, *projects: str) -> None:
    for project in projects:
        emulators.reset_firestore(host, project)


def engine(
    db: Any,
    plane: PlaneConfig,
    env: str,
    directory: Path = files.DEFAULT_DIR,
    *,
    host: str,
    snapshots_dir: Path | None = None,
    chunk_size: int = 50,
    actor: str = "tester",
    release: str | None = None,
) -> Engine:
    return Engine(
        db,
        plane.env(env),
        files.load(directory),
        actor=actor,
        release=release,
        snapshots=EmulatorSnapshots(host, snapshots_dir),
        local=True,
        chunk_size=chunk_size,
    )


def write_migration(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def _walk(collections: Iterator[Any]) -> Iterator[Any]:
    for coll in collections:
        for doc in coll.list_documents():
            snap = doc.get()
            if snap.exists:
                yield snap
            yield from _walk(doc.collections())


def dump(db: Any, *, skip: tuple[str, ...] = (), times: bool = False) -> dict[str, Any]:
    """Every document of the project: path -> data (and its update time when asked)."""
    out: dict[str, Any] = {}
    for snap in _walk(iter(db.collections())):
        path = snap.reference.path
        if path.split("/")[0] in skip:
            continue
        out[path] = (snap.to_dict(), snap.update_time) if times else snap.to_dict()
    return out


def seed(db: Any, collection: str, count: int, **fields: Any) -> None:
    writer = db.bulk_writer()
    for i in range(count):
        writer.set(db.collection(collection).document(f"doc{i:05d}"), {"i": i, **fields})
    writer.close()
