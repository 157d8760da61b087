"""`releasectl backups list|take|restore --env E`: the backups of an environment's database.

Rollouts take them by themselves (before a production rollout migrates, before a rollback
restores); `take` makes one by hand. `restore` imports one back: documents the backup holds
are written back as they were, documents created since are left; the protected collections
(users, balances, payments, chats) only with `--include-protected`; production only with
`--force`. Exit codes: 0 done, 1 it failed, 2 bad input (nothing written).
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from shared.backups.handler import Backups
from shared.cli import context, output
from shared.cli.output import console, exit_codes

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
    t = output.table(f"Backups of {env}", "id", "taken", "trigger", "release", "docs", "where")
    for r in records:
        docs = str(r.documents) if r.documents is not None else "-"
        t.add_row(r.id, output.when(r.started_at), r.trigger, r.release or "-", docs, r.location)
    console.print(t)


@app.command()
def take(env: EnvOpt) -> None:
    """Back the env's database up now (older ones beyond `backups_keep` are deleted)."""
    with exit_codes():
        cfg = context.plane().env(env)
        start = time.monotonic()
        record = _service().take(cfg, "manual", by=context.default_actor())
    docs = f"{record.documents} documents, " if record.documents is not None else ""
    console.print(
        f"backup [bold]{record.id}[/] of {env}: {docs}{len(record.collections)} collections, "
        f"{time.monotonic() - start:.1f}s → {record.location}",
        soft_wrap=True,
    )


@app.command()
def restore(
    backup: Annotated[str, typer.Argument(help="Backup id (`backups list`).")],
    env: EnvOpt,
    force: Annotated[bool, typer.Option("--force", help="Required for production.")] = False,
    include_protected: Annotated[
        bool,
        typer.Option("--include-protected", help="Also write users, balances, payments and chats."),
    ] = False,
) -> None:
    """Import a backup into the env (documents it holds are put back as they were)."""
    from shared.errors import Refused

    with exit_codes(Refused):
        cfg = context.plane().env(env)
        start = time.monotonic()
        record, collections, written = _service().restore(
            backup, cfg, force=force, include_protected=include_protected
        )
    count = f"{written} documents" if written is not None else "the documents"
    console.print(
        f"restored {count} of {record.id} into {env} ({', '.join(collections) or 'nothing'}) "
        f"in {time.monotonic() - start:.1f}s",
        soft_wrap=True,
    )
