"""Read commands: `status`, `history`, `dead-letters` (each with `--json`)."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.adapters import firestore_views as views
from shared.cli import context, output
from shared.cli import status_view as view
from shared.cli.output import console
from shared.clock import utcnow
from shared.mobile.model import Train
from shared.views import trains as train_words

JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")]
EnvOpt = Annotated[
    str | None, typer.Option("--env", "-e", envvar="RELEASECTL_ENV", help="Only this environment.")
]


def status(env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """What runs where, what is in flight, what waits for a person, what is frozen."""
    if env is not None:
        context.plane().env(env)  # unknown env: one clear error, exit 2
    rows = views.env_status(context.db(), context.plane(), env)
    trains = views.trains(context.db()) if context.plane().mobile else []
    if as_json:
        output.print_json({"environments": rows, "trains": trains})
        return
    for table in view.env_table(rows, console.width):
        console.print(table)
    if trains:
        _trains(trains)
    for line in view.notices(rows):
        console.print(line)
    if env is not None:
        _full(rows[0])


def _full(row: views.EnvStatus) -> None:
    """One environment in full: the last move's whole reason and its rollout's steps."""
    last = row.state.last
    if last is not None and last.reason:
        console.print(
            f"[bold]last move[/]: {last.release} {output.state(last.state)}: {last.reason}"
        )
    breach = view.live_breach(row.live, full=True)
    if breach:
        console.print(breach)
    shown = row.in_flight
    if shown is None and last is not None:
        shown = views.read_rollout(context.db(), last.release, row.env)
    if shown is not None:
        console.print(view.steps_table(shown, utcnow(), console.width))


def _trains(trains: list[Train]) -> None:
    """The mobile trains, as the stores last confirmed them, in the dashboard's words
    (`releasectl mobile status` reads the stores themselves)."""
    t = output.table("Mobile trains", "release", "platform", "build", "where", "state", "users")
    for train in trains:
        state = train_words.state(train)
        if train.pending is not None:
            state += f" (asked: {train.pending.verb})"
        where = train_words.track(train)
        users = train_words.users(train)
        t.add_row(train.release, train.platform, str(train.build), where, state, users)
    console.print(t)


def history(
    release: Annotated[str, typer.Argument(help="Release id (its version).")],
    full: Annotated[bool, typer.Option("--full", help="Every reason in full (wraps).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """A release's rollouts and its append-only audit trail."""
    found = views.release_view(context.db(), release)
    if found is None:
        output.err_console.print(f"[red]error:[/red] unknown release {release!r}")
        raise typer.Exit(1)
    if as_json:
        output.print_json(found)
        return
    for item in view.history_tables(found, width=console.width, full=full):
        console.print(item)
    if found.release.artifacts:
        a = output.table("Artifacts", "name", "reference")
        for name, ref in sorted(found.release.artifacts.items()):
            a.add_row(name, ref + _local_copy(ref))
        console.print(a)


def _local_copy(ref: str) -> str:
    """Where the local build runner keeps a `gs://` artifact (the SBOM), if it has it."""
    if not ref.startswith("gs://"):
        return ""
    from shared.local.build_runner import local_object
    from shared.local.state import local_dir_from_env

    path = local_object(local_dir_from_env(), ref)
    return f"\n(local copy: {path})" if path.is_file() else ""


def dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    as_json: JsonOpt = False,
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
