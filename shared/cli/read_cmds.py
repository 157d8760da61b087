"""Read commands: `status`, `history`, `dead-letters` (each with `--json`)."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.adapters import firestore_views as views
from shared.cli import context, output
from shared.cli.output import console
from shared.domain.model import LastMove, Rollout
from shared.mobile.model import Train

JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")]
EnvOpt = Annotated[
    str | None, typer.Option("--env", "-e", envvar="RELEASECTL_ENV", help="Only this environment.")
]


def status(env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """What runs where, what is in flight, which environments are frozen."""
    if env is not None:
        context.plane().env(env)  # unknown env: one clear error, exit 2
    rows = views.env_status(context.db(), context.plane(), env)
    trains = views.trains(context.db()) if context.plane().mobile else []
    if as_json:
        output.print_json({"environments": rows, "trains": trains})
        return
    t = output.table(
        "Environments", "env", "project", "current", "previous", "last rollout", "frozen"
    )
    for row in rows:
        s = row.state
        flight = _last(s.last)
        frozen = f"[red]yes[/] ({s.frozen.by}: {s.frozen.reason})" if s.frozen else "no"
        t.add_row(
            row.env,
            row.project,
            s.current.release if s.current else "-",
            s.previous.release if s.previous else "-",
            flight,
            frozen,
        )
    console.print(t)
    if trains:
        _trains(trains)
    for row in rows:
        _breach(row.live)
    for row in rows:
        if env is not None and row.in_flight is not None:
            _steps(row.in_flight)


def _trains(trains: list[Train]) -> None:
    """The mobile trains, as the stores last confirmed them (`releasectl mobile status`)."""
    t = output.table("Mobile trains", "release", "platform", "build", "track", "status", "users")
    for train in trains:
        users = f"{train.fraction:.0%}" if train.fraction is not None else "-"
        if train.day is not None:
            users = f"day {train.day}"
        status = train.status or "-"
        if train.pending is not None:
            status += f" (asked: {train.pending.verb})"
        t.add_row(
            train.release, train.platform, str(train.build), train.track or "-", status, users
        )
    console.print(t)


def _breach(live: Rollout | None) -> None:
    """The live watch's last confirmed breach of the release serving now, if any."""
    watch = live.steps.get("watch") if live is not None and live.state == "live" else None
    if live is None or watch is None or watch.status != "breach":
        return
    since = watch.detail.get("breachStart", "?")
    last = watch.detail.get("breachEnd", "?")
    console.print(
        f"[red]{live.env}: {live.release} breached while live[/] (windows {since} … {last}): "
        f"{watch.reason or ''}"
    )


def _last(last: LastMove | None) -> str:
    if last is None:
        return "-"
    why = f": {last.reason}" if last.reason else ""
    return f"{last.release} {output.state(last.state)}{why}"


def _steps(rollout: Rollout) -> None:
    t = output.table(
        f"{rollout.release} in {rollout.env} (attempt {rollout.attempt})",
        "step",
        "status",
        "started",
        "finished",
        "build",
        "reason",
    )
    for name, step in rollout.steps.items():
        t.add_row(
            name,
            step.status,
            output.when(step.started_at),
            output.when(step.finished_at),
            step.build_id or "-",
            step.reason or "",
        )
    console.print(t)


def history(
    release: Annotated[str, typer.Argument(help="Release id (its version).")],
    as_json: JsonOpt = False,
) -> None:
    """A release's rollouts and its append-only audit trail."""
    view = views.release_view(context.db(), release)
    if view is None:
        output.err_console.print(f"[red]error:[/red] unknown release {release!r}")
        raise typer.Exit(1)
    if as_json:
        output.print_json(view)
        return
    r = view.release
    console.print(
        f"[bold]{r.version}[/] commit {r.commit} on {r.branch} by {r.author}, "
        f"created {output.when(r.created_at)}"
    )
    t = output.table("Rollouts", "env", "state", "attempt", "since", "reason")
    for ro in view.rollouts:
        t.add_row(
            ro.env,
            output.state(ro.state),
            str(ro.attempt),
            output.when(ro.state_since),
            ro.reason or "",
        )
    console.print(t)
    h = output.table("History", "#", "at", "env", "from", "to", "actor", "reason")
    for e in view.history:
        h.add_row(
            str(e.seq),
            output.when(e.at),
            e.env,
            output.state(e.from_state),
            output.state(e.to_state),
            e.actor,
            e.reason or "",
        )
    console.print(h)


def dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20, as_json: JsonOpt = False
) -> None:
    """Messages that were refused or whose delivery attempts ran out, newest first."""
    letters = views.dead_letters(context.db(), limit)
    if as_json:
        output.print_json({"deadLetters": letters})
        return
    t = output.table("Dead letters", "received", "topic", "event id", "reason", "last error")
    for d in letters:
        t.add_row(output.when(d.received_at), d.topic, d.event_id, d.reason, d.last_error or "")
    console.print(t)
