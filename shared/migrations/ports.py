"""What a migration run needs from outside: a place to report progress and a way to take a
snapshot of the database before it writes."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class ProgressSink(Protocol):
    def start(self, label: str, total: int | None, done: int) -> None: ...
    def advance(self, docs: int) -> None: ...
    def set_total(self, total: int) -> None: ...
    def finish(self) -> None: ...


class SnapshotPort(Protocol):
    def take(self, project: str, env: str, at: datetime) -> str:
        """Export the whole database of `project`; return where the export is."""
        ...
