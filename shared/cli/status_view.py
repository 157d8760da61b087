"""`status` and `history` as people read them, in 80 columns: one row per environment or move,
each reason said once and cut to the line (`shared.views.reasons`); the full text is in
`status --env E`, `history --full` and `--json`. Builds rich renderables only (no I/O), so the
golden tests render them at a fixed width."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from io import StringIO
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from shared.adapters.firestore_views import EnvStatus, ReleaseView
from shared.cli import output
from shared.domain.model import HistoryEntry, LastMove, Rollout
from shared.views import steps
from shared.views.reasons import summarise

WIDTH = 80


def _cell(value: str | Text) -> Text:
    return value if isinstance(value, Text) else Text.from_markup(value)


def fitted(
    headers: list[str],
    rows: list[list[str | Text]],
    *,
    width: int,
    full: bool = False,
    lines: int = 1,
    title: str | None = None,
) -> Table:
    """A table whose columns keep their values whole except the last one (the reason), which
    gets what is left of `width`: up to `lines` lines, then cut with `…`; whole if `full`."""
    cells = [[_cell(v) for v in row] for row in rows]
    sizes = [max([len(h), *(row[i].cell_len for row in cells)]) for i, h in enumerate(headers[:-1])]
    # each column but the last is followed by a 3-cell gutter (padding, rule, padding)
    left = max(width - sum(sizes) - 3 * len(sizes) - 1, len(headers[-1]))
    t = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
    )
    for header, size in zip(headers, sizes, strict=False):
        t.add_column(header, no_wrap=True, width=size)
    wraps = full or lines > 1
    t.add_column(headers[-1], no_wrap=not wraps, max_width=left, overflow="fold")
    for row in cells:
        if not full:
            # a wrapped line ends at a word, so each line after the first may carry less
            row[-1].truncate(lines * left - (lines - 1) * left // 3, overflow="ellipsis")
        t.add_row(*row)
    return t


def env_table(rows: list[EnvStatus], width: int = WIDTH) -> list[RenderableType]:
    """Where each environment is, then how its last move ended (up to two lines each)."""
    where = fitted(
        ["env", "current", "in flight", "frozen"],
        [
            [
                row.env,
                row.state.current.release if row.state.current else "-",
                _flight(row.in_flight),
                "[red]yes[/]" if row.state.frozen else "no",
            ]
            for row in rows
        ],
        width=width,
    )
    outcomes = fitted(
        ["env", "last outcome"],
        [[row.env, last_outcome(row.state.last)] for row in rows],
        width=width,
        lines=2,
    )
    return [where, Text(), outcomes]


def _flight(rollout: Rollout | None) -> str:
    if rollout is None or (rollout.state.value not in steps.WAITING and not _moving(rollout)):
        return "-"
    step = steps.step_of(rollout)
    where = f" {steps.ORDER.index(step) + 1}/{len(steps.ORDER)}" if step in steps.ORDER else ""
    return f"{rollout.release} {output.state(rollout.state)}{where}"


def _moving(rollout: Rollout) -> bool:
    from shared.domain.states import HOLDS_LOCK

    return rollout.state in HOLDS_LOCK


def last_outcome(last: LastMove | None) -> str:
    if last is None:
        return "-"
    why = escape(summarise(last.reason))
    return f"{last.release} {output.state(last.state)}" + (f": {why}" if why else "")


def notices(rows: list[EnvStatus]) -> Iterator[str]:
    """One line for each thing that needs an eye: waiting for a person, frozen, a live breach."""
    for row in rows:
        todo = steps.waiting(row.in_flight)
        if todo and row.in_flight is not None:
            yield f"[yellow]{row.env}[/]: {row.in_flight.release} waits: {todo}"
        if row.state.frozen is not None:
            f = row.state.frozen
            since = output.when(f.since)
            yield f"[red]{row.env}[/]: frozen by {escape(f.by)} since {since}: {escape(f.reason)}"
        breach = live_breach(row.live)
        if breach:
            yield breach
        if row.canary is not None:
            yield canary_line(row.env, row.canary)


def canary_line(env: str, canary: dict[str, Any]) -> str:
    """The in-flight canary step: which step, the split, and what holds it; after the last
    step, the finish build deploying what cannot split traffic."""
    split = ", ".join(f"{release} {pct} %" for release, pct in canary["split"].items())
    pending = "" if canary["applied"] else " (split not confirmed yet)"
    finish = canary.get("finishing")
    if finish is not None:
        build = f" {escape(str(finish['buildId']))}" if finish.get("buildId") else ""
        ended = "ended, unjudged at some steps," if canary.get("inconclusive") else "passed"
        return (
            f"[bold]{env}[/]: canary {ended} {canary['steps']}: {split}{pending}; "
            f"finish build{build} {escape(str(finish['status']))} "
            "(Hosting, Firestore rules and indexes)"
        )
    held = f"; held: {escape(str(canary['holding']))}" if canary["holding"] else ""
    return (
        f"[bold]{env}[/]: canary step {canary['step']}/{len(canary['steps'])} "
        f"({canary['percent']} %): {split}{pending}{held}"
    )


def live_breach(live: Rollout | None, *, full: bool = False) -> str | None:
    """The live watch's last confirmed breach of the release serving now, if any."""
    watch = live.steps.get("watch") if live is not None and live.state == "live" else None
    if live is None or watch is None or watch.status != "breach":
        return None
    since = _hm(watch.detail.get("breachStart"))
    last = _hm(watch.detail.get("breachEnd"))
    why = escape(watch.reason or "" if full else summarise(watch.reason))
    return f"[red]{live.env}[/]: {live.release} breached while live ({since} to {last}): {why}"


def _hm(iso: object) -> str:
    try:
        return datetime.fromisoformat(str(iso)).strftime("%H:%M:%S")
    except ValueError:
        return "?"


def steps_table(rollout: Rollout, now: datetime, width: int = WIDTH) -> Table:
    """Every step of one rollout with its full reason (`status --env E`): the reason wraps."""
    rows: list[list[str | Text]] = [
        [
            line.name,
            line.status,
            output.when(line.started_at),
            steps.duration(line.seconds),
            Text(line.reason or ""),
        ]
        for line in steps.timeline(rollout, now)
    ]
    title = f"{rollout.release} in {rollout.env}: {steps.position(rollout)}"
    return fitted(
        ["step", "status", "started", "took", "reason"], rows, width=width, full=True, title=title
    )


def history_tables(
    view: ReleaseView, *, width: int = WIDTH, full: bool = False
) -> list[RenderableType]:
    r = view.release
    head = Text(
        f"{r.version} · commit {r.commit[:12]} on {r.branch} by {r.author} · "
        f"created {output.when(r.created_at)}"
    )
    rollouts = fitted(
        ["env", "state", "try", "since", "reason"],
        [
            [
                ro.env,
                output.state(ro.state),
                str(ro.attempt),
                output.when(ro.state_since),
                _reason(ro.reason, full),
            ]
            for ro in view.rollouts
        ],
        width=width,
        full=full,
        title="Rollouts",
    )
    return [head, rollouts, history_table(view.history, width=width, full=full)]


def _reason(reason: str | None, full: bool) -> Text:
    return Text(reason or "") if full else Text.from_markup(escape(summarise(reason)))


def history_table(entries: list[HistoryEntry], *, width: int = WIDTH, full: bool = False) -> Table:
    """The audit trail, one line per move (`--full`: every reason whole, and where from)."""
    headers = ["#", "at", "env", *(["from"] if full else []), "to", "actor", "reason"]
    rows: list[list[str | Text]] = [
        [
            str(e.seq),
            e.at.strftime("%m-%d %H:%M:%S"),
            e.env,
            *([output.state(e.from_state)] if full else []),
            output.state(e.to_state),
            Text(e.actor),
            _reason(e.reason, full),
        ]
        for e in entries
    ]
    return fitted(headers, rows, width=width, full=full, title="History")


def render(items: list[RenderableType] | RenderableType, width: int = 80) -> str:
    """Plain text as a terminal of `width` columns shows it (the golden tests' view)."""
    buffer = StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    for item in items if isinstance(items, list) else [items]:
        console.print(item)
    return buffer.getvalue()
