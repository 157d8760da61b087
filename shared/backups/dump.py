"""The local stack's backups: every document of an env's database, read through the Firestore
client and written to a file under `.local/backups/`, and written back by `restore`.

The Firestore emulator can export, but not import at run time (only at start), so a dump
through the client is what can be taken and restored while the stack runs. One JSON line per
document: its path and its fields, with the types JSON lacks tagged (`$ts` timestamps, `$b`
bytes, `$geo` points, `$ref` references, `$m` maps). All documents are read with one kindless
collection-group query (`collection_group("")`: every collection at every depth).
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.backups.model import BackupRecord, Imported
from shared.clock import Clock, utcnow

FILE = "documents.jsonl.gz"


def encode(value: Any) -> Any:
    from google.cloud.firestore_v1 import DocumentReference, GeoPoint

    if isinstance(value, dict):
        return {"$m": {k: encode(v) for k, v in value.items()}}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, datetime):
        return {"$ts": value.isoformat()}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    if isinstance(value, GeoPoint):
        return {"$geo": [value.latitude, value.longitude]}
    if isinstance(value, DocumentReference):
        return {"$ref": value.path}
    return value


def decode(value: Any, ref: Callable[[str], Any]) -> Any:
    from google.cloud.firestore_v1 import GeoPoint

    if isinstance(value, list):
        return [decode(v, ref) for v in value]
    if not isinstance(value, dict):
        return value
    ((tag, inner),) = value.items()
    if tag == "$m":
        return {k: decode(v, ref) for k, v in inner.items()}
    if tag == "$ts":
        return datetime.fromisoformat(inner)
    if tag == "$b":
        return base64.b64decode(inner)
    if tag == "$geo":
        return GeoPoint(inner[0], inner[1])
    return ref(inner)  # "$ref"


class DocumentDumps:
    """`BackupTarget` over the Firestore client (the emulator), into `directory/<env>/<id>`."""

    def __init__(self, directory: Path, client: Callable[[str], Any], clock: Clock = utcnow):
        self.directory, self.client, self.clock = directory, client, clock

    def location(self, env: str, backup: str) -> str:
        return str((self.directory / env / backup).resolve())

    def start(self, record: BackupRecord) -> BackupRecord:
        """The whole dump, at once: a dump never stays running."""
        db = self.client(record.project)
        target = Path(record.location)
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f".{FILE}.tmp"
        count, roots = 0, set()
        with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as out:
            for snap in db.collection_group("").stream():
                path = snap.reference.path
                roots.add(path.split("/", 1)[0])
                line = {"path": path, "data": encode(snap.to_dict() or {})}
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
                count += 1
        tmp.replace(target / FILE)  # a backup that did not finish is never one
        return record.model_copy(
            update={"finished_at": self.clock(), "collections": sorted(roots), "documents": count}
        )

    def check(self, record: BackupRecord) -> BackupRecord | None:
        return record

    def restore(self, record: BackupRecord, collections: list[str]) -> Imported:
        """The whole restore, at once: a dump's restore never stays running."""
        db = self.client(record.project)
        wanted = set(collections)
        written = 0
        writer = db.bulk_writer()
        with gzip.open(Path(record.location) / FILE, "rt", encoding="utf-8") as lines:
            for line in lines:
                doc = json.loads(line)
                if doc["path"].split("/", 1)[0] not in wanted:
                    continue
                writer.set(db.document(doc["path"]), decode(doc["data"], db.document))
                written += 1
        writer.close()  # flushes, retrying what Firestore pushed back
        return Imported(documents=written)

    def restored(self, lro: str) -> bool:
        return True  # never runs on (nothing to poll)

    def delete(self, record: BackupRecord) -> None:
        shutil.rmtree(record.location, ignore_errors=True)
