"""`releasectl backups list|take|restore --env E`: the backups of an environment's database.

Rollouts take them by themselves (before a production rollout migrates, before a rollback
restores); `take` makes one by hand. `restore` imports one back: documents the backup holds
are written back as they were, documents created since are left; the protected collections
(users, balances, payments, chats) only with `--include-protected`; production only with
`--force`. `take` and `restore` are signed commands (`backup.take|restore`, role `operator`)
that the control plane carries out and records with your verified identity; `--wait` (the
default) follows them. Exit codes: 0 done, 1 refused or failed, 2 bad input (nothing sent).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from shared.backups.handler import Backups
from shared.backups.model import BackupRecord
from shared.cli import context, output
from shared.cli.output import console, exit_codes
from shared.cli.sending import ActorOpt, TimeoutOpt

app = typer.Typer(help="Backups of an environment's database.", no_args_is_help=True)
EnvOpt = Annotated[str, typer.Option("--env", "-e", envvar="RELEASECTL_ENV", help="Environment.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")]


def _service() -> Backups:
    from shared.bootstrap import backups

    return backups(context.settings(), context.db())


@app.command("list")
def list_(env: EnvOpt, as_json: JsonOpt = False) -> None:
    """The env's backups, newest first."""
    with exit_codes():
        context.plane().env(env)
        records = _service().of_env(env)
    if as_json:
        output.print_json({"backups": records})
        return
    t = output.table(
        f"Backups of {env}", "id", "taken", "trigger", "release", "docs", "state", "where"
    )
    for r in records:
        docs = str(r.documents) if r.documents is not None else "-"
        row = (r.id, output.when(r.started_at), r.trigger, r.release or "-", docs)
        t.add_row(*row, escape(state_of(r)), r.location)
    console.print(t)


def state_of(record: BackupRecord) -> str:
    """What may be done with it now: a backup still being taken or restored blocks restores
    (and an import blocks backups) in its env."""
    if record.error is not None:
        return f"failed: {record.error}"
    if record.running:
        return f"being taken (operation {record.lro})" if record.lro else "being taken"
    run = record.restoring
    if run is not None:
        return f"being restored (operation {run.operation or run.lro})"
    return "ready"


WaitOpt = Annotated[
    bool,
    typer.Option(
        "--wait/--no-wait", help="Wait until the control plane has done it; exit 1 if it failed."
    ),
]


@app.command()
def take(
    env: EnvOpt,
    actor: ActorOpt = None,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = 900,
) -> None:
    """Back the env's database up now (older ones beyond `backups_keep` are deleted)."""
    from shared.cli.sending import submit

    submit("backup.take", env=env, actor=actor, wait=wait, timeout=timeout)


@app.command()
def restore(
    backup: Annotated[str, typer.Argument(help="Backup id (`backups list`).")],
    env: EnvOpt,
    force: Annotated[bool, typer.Option("--force", help="Required for production.")] = False,
    include_protected: Annotated[
        bool,
        typer.Option("--include-protected", help="Also write users, balances, payments and chats."),
    ] = False,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept with it).")] = "",
    actor: ActorOpt = None,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = 900,
) -> None:
    """Import a backup into the env (documents it holds are put back as they were)."""
    from shared.cli.sending import submit
    from shared.config import PRODUCTION
    from shared.errors import Refused

    with exit_codes(Refused):  # checked here first: bad input sends nothing (exit 2)
        context.plane().env(env)
        record = _service().catalog.get(backup)
        if record is None:
            raise Refused(f"no backup {backup!r} (see `releasectl backups list --env {env}`)")
        if record.env != env:
            raise Refused(f"backup {backup} is of {record.env}, not {env}")
        if env == PRODUCTION and not force:
            raise Refused("restoring production overwrites its documents: add --force")
    submit(
        "backup.restore",
        env=env,
        backup=backup,
        force=force,
        include_protected=include_protected,
        reason=reason or None,
        actor=actor,
        wait=wait,
        timeout=timeout,
    )
