"""What a migration's `up(ctx)` / `down(ctx)` is given."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.migrations.model import Checkpoint
from shared.migrations.ports import ProgressSink
from shared.migrations.progress import NoProgress
from shared.migrations.writer import ChunkedWriter

SaveCheckpoints = Callable[[dict[str, Checkpoint], int, int], None]


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


# Returned by a `ctx.migrate` transform: delete this document.
DELETE = _Delete()
Transform = Callable[[Any], "dict[str, Any] | _Delete | None"]


def _no_save(_checkpoints: dict[str, Checkpoint], _read: int, _written: int) -> None:
    pass


@dataclass
class MigrationContext:
    """`db` is a Firestore client on the environment's project: read with it, write only
    through `writer` (or `migrate`), which guard protected collections and honour dry runs."""

    db: Any
    env: str
    project: str
    version: str
    dry_run: bool
    writer: ChunkedWriter
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("shared.migrations"))
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    save: SaveCheckpoints = _no_save
    progress: ProgressSink = field(default_factory=NoProgress)
    chunk_size: int = 500
    docs_read: int = 0
    resumed_reread: int = 0

    def stream(self, query: Any) -> Iterator[Any]:
        """Documents of a query or collection, counted as read."""
        for snap in query.stream():
            self.docs_read += 1
            yield snap

    def get(self, doc: Any) -> Any:
        ref = self.db.document(doc) if isinstance(doc, str) else doc
        self.docs_read += 1
        return ref.get()

    def get_all(self, docs: list[Any]) -> dict[str, Any]:
        """Several documents in one round trip, by path (missing ones have `exists` False)."""
        refs = [self.db.document(d) if isinstance(d, str) else d for d in docs]
        snaps = list(self.db.get_all(refs))
        self.docs_read += len(snaps)
        return {s.reference.path: s for s in snaps}

    def migrate(
        self,
        collection: str,
        transform: Transform,
        *,
        task: str | None = None,
        conditional: bool = True,
    ) -> None:
        """Apply `transform` to every document of `collection` in chunks, resumably.

        `transform(snapshot)` returns field updates (a dict, as for `update`), `DELETE`, or
        None to leave the document alone. Each document's write is conditional on the update
        time it was read with, and a checkpoint is saved after every chunk, so a run killed
        half-way resumes without writing any document twice or skipping one.

        `conditional=False` drops the update-time precondition on each write: faster on a
        collection nothing else writes during the migration (resuming stays exact either way,
        it compares the recorded update times itself).
        """
        from shared.migrations.passes import run_pass

        run_pass(self, collection, transform, task or collection, conditional)

    def save_progress(self) -> None:
        self.save(self.checkpoints, self.docs_read, self.writer.written)
