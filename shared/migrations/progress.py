"""Progress of long collection passes: a rich bar with docs/s on a terminal, plain lines
(at most one every few seconds) in Cloud Build logs and other pipes."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from shared.migrations.ports import ProgressSink


class _Speed(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text("-- docs/s" if speed is None else f"{speed:,.0f} docs/s", style="cyan")


class RichProgress:
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Speed(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def start(self, label: str, total: int | None, done: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(label, total=total, completed=done)

    def advance(self, docs: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, docs)

    def set_total(self, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, total=total)

    def finish(self) -> None:
        self._progress.stop()
        self._task = None


class PlainProgress:
    def __init__(self, console: Console, every_s: float = 5.0) -> None:
        self._console, self._every = console, every_s
        self._label, self._done = "", 0
        self._total: int | None = None
        self._t0 = self._last = 0.0
        self._start_done = 0

    def start(self, label: str, total: int | None, done: int) -> None:
        self._label, self._total, self._done, self._start_done = label, total, done, done
        self._t0 = self._last = time.monotonic()
        self._line()

    def advance(self, docs: int) -> None:
        self._done += docs
        if time.monotonic() - self._last >= self._every:
            self._line()

    def set_total(self, total: int) -> None:
        self._total = total

    def finish(self) -> None:
        self._line()

    def _line(self) -> None:
        self._last = time.monotonic()
        elapsed = max(self._last - self._t0, 1e-9)
        rate = (self._done - self._start_done) / elapsed
        total = "?" if self._total is None else str(self._total)
        self._console.print(
            f"{self._label}: {self._done}/{total} docs ({rate:,.0f} docs/s)", highlight=False
        )


class NoProgress:
    def start(self, label: str, total: int | None, done: int) -> None:
        pass

    def advance(self, docs: int) -> None:
        pass

    def set_total(self, total: int) -> None:
        pass

    def finish(self) -> None:
        pass


def for_console(console: Console) -> ProgressSink:
    return RichProgress(console) if console.is_terminal else PlainProgress(console)
