"""`releasectl migrate status|plan|up|down|validate|repair|baseline --env E`.

Exit codes: 0 ok, 1 the run failed (validation, lock held, a migration raised), 2 bad input
(unknown env, malformed migration file, production without --force, ...): nothing written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from shared.bootstrap import migration_engine
from shared.cli import context, output
from shared.cli.output import console, err_console
from shared.errors import ConfigError, ControlPlaneError
from shared.migrations.errors import BadMigrationInput
from shared.migrations.files import DEFAULT_DIR
from shared.migrations.handler import Engine
from shared.migrations.lock import LOCK_PATH, Lease
from shared.migrations.model import Plan, RunReport, Status
from shared.migrations.ports import ProgressSink
from shared.migrations.progress import NoProgress, for_console

app = typer.Typer(help="Versioned Firestore migrations of an environment.", no_args_is_help=True)

EnvOpt = Annotated[str, typer.Option("--env", "-e", envvar="RELEASECTL_ENV", help="Environment.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")]
DryOpt = Annotated[bool, typer.Option("--dry-run", help="Run against real data, write nothing.")]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Required for production and for protected writes.")
]
LockWaitOpt = Annotated[
    float,
    typer.Option(
        "--lock-wait", min=0, help="Seconds to wait for another run's lock (0: fail at once)."
    ),
]
# `--wait` elsewhere is a switch (follow the result); here it was the lock's seconds. The old
# spelling still works, with a warning, for scripts and older release builds.
OldWaitOpt = Annotated[
    float | None,
    typer.Option("--wait", min=0, hidden=True, help="Deprecated: use --lock-wait."),
]
ReleaseOpt = Annotated[
    str | None, typer.Option("--release", envvar="RELEASECTL_RELEASE", help="Release id.")
]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who runs it (default: you).")]
DirOpt = Annotated[Path, typer.Option("--dir", help="Migrations directory.", hidden=True)]
ChunkOpt = Annotated[
    int,
    typer.Option(
        "--chunk-size", min=1, max=5000, hidden=True, help="Documents per chunk of ctx.migrate."
    ),
]

STATUS_STYLE = {
    Status.APPLIED: "green",
    Status.PENDING: "cyan",
    Status.BASELINE: "dim",
    Status.CHANGED: "red",
    Status.MISSING: "red",
    Status.FAILED: "bold red",
}


def _lock_wait(lock_wait: float, old_wait: float | None) -> float:
    if old_wait is None:
        return lock_wait
    err_console.print("warning: `migrate --wait S` is deprecated: use --lock-wait S")
    return old_wait


@contextmanager
def _errors() -> Iterator[None]:
    """Bad input exits 2 and a failed run exits 1, each with one clear line."""
    try:
        yield
    except (BadMigrationInput, ConfigError) as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except ControlPlaneError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _engine(
    env: str,
    *,
    release: str | None = None,
    actor: str | None = None,
    directory: Path = DEFAULT_DIR,
    chunk_size: int = 500,
    progress: Callable[[], ProgressSink] = NoProgress,
) -> Engine:
    return migration_engine(
        env,
        actor=actor or context.default_actor(),
        release=release,
        directory=directory,
        settings=context.settings(),
        chunk_size=chunk_size,
        progress=progress,
    )


def _plan_table(plan: Plan, title: str) -> None:
    t = output.table(title, "version", "status", "file", "description", "applied")
    for i in plan.items:
        style = STATUS_STYLE.get(i.status, "white")
        t.add_row(
            i.version,
            f"[{style}]{i.status.value}[/]",
            i.file or "-",
            i.description,
            output.when(i.applied_at),
        )
    console.print(t)


@app.command()
def status(env: EnvOpt, as_json: JsonOpt = False, directory: DirOpt = DEFAULT_DIR) -> None:
    """Current schema version, the lock, and how many migrations are in each state."""
    with _errors():
        engine = _engine(env, directory=directory)
        plan = engine.plan()
        snap = engine.db.document(LOCK_PATH).get()
        lock = Lease.model_validate(snap.to_dict()) if snap.exists else None
    counts = {s.value: len(plan.with_status(s)) for s in Status}
    if as_json:
        output.print_json(
            {
                "env": env,
                "current": plan.current,
                "baseline": plan.baseline,
                "counts": counts,
                "lock": lock,
            }
        )
        return
    console.print(f"[bold]{env}[/] ({engine.env.project}): schema version {plan.current or '-'}")
    console.print(", ".join(f"{n} {k}" for k, n in counts.items() if n))
    if lock is not None:
        console.print(f"[yellow]locked[/] by {lock.actor} until {output.when(lock.expires_at)}")


@app.command()
def plan(env: EnvOpt, as_json: JsonOpt = False, directory: DirOpt = DEFAULT_DIR) -> None:
    """Every migration and its state: pending, applied, changed, missing, failed, baseline."""
    with _errors():
        result = _engine(env, directory=directory).plan()
    if as_json:
        output.print_json(result)
        return
    _plan_table(result, f"Migrations of {env} (current {result.current or '-'})")


@app.command()
def validate(env: EnvOpt, as_json: JsonOpt = False, directory: DirOpt = DEFAULT_DIR) -> None:
    """Fail if an applied migration's file was edited or removed since it ran."""
    with _errors():
        result = _engine(env, directory=directory).validate()
    if as_json:
        output.print_json({"env": env, "valid": True, "current": result.current})
        return
    console.print(f"[green]valid[/]: {len(result.items)} migrations checked in {env}")


def _print_run(report: RunReport, as_json: bool, engine: Engine) -> None:
    if as_json:
        applied = None if report.dry_run else engine.applied_by_release(engine.release)
        output.print_json({"run": report, "applied": applied})
        return
    verb = "would run" if report.dry_run else "ran"
    if not report.steps:
        console.print(f"{report.env}: nothing to do (schema version {report.from_version or '-'})")
        return
    t = output.table(
        f"{report.env}: {verb} {report.direction}",
        "version",
        "description",
        "read",
        "written",
        "ms",
        "note",
    )
    for s in report.steps:
        note = "resumed" if s.resumed else ""
        t.add_row(
            s.version,
            s.description,
            str(s.docs_read),
            str(s.docs_written),
            str(s.duration_ms),
            note,
        )
    console.print(t)
    if report.snapshot:
        console.print(f"snapshot: {report.snapshot}")


@app.command()
def up(
    env: EnvOpt,
    to: Annotated[str | None, typer.Option("--to", help="Stop at this version.")] = None,
    dry_run: DryOpt = False,
    force: ForceOpt = False,
    lock_wait: LockWaitOpt = 0,
    old_wait: OldWaitOpt = None,
    release: ReleaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    directory: DirOpt = DEFAULT_DIR,
    chunk_size: ChunkOpt = 500,
) -> None:
    """Apply pending migrations in order (resuming one a killed run left half-done)."""
    with _errors():
        engine = _engine(
            env,
            release=release,
            actor=actor,
            directory=directory,
            chunk_size=chunk_size,
            progress=lambda: for_console(err_console),
        )
        report = engine.up(to, dry_run=dry_run, force=force, wait_s=_lock_wait(lock_wait, old_wait))
    _print_run(report, as_json, engine)


@app.command()
def down(
    env: EnvOpt,
    to: Annotated[str, typer.Option("--to", help="Revert to this version (0.0.0: all).")],
    dry_run: DryOpt = False,
    force: ForceOpt = False,
    lock_wait: LockWaitOpt = 0,
    old_wait: OldWaitOpt = None,
    release: ReleaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    directory: DirOpt = DEFAULT_DIR,
    chunk_size: ChunkOpt = 500,
) -> None:
    """Revert applied migrations above --to, newest first, with each file's `down`."""
    with _errors():
        engine = _engine(
            env,
            release=release,
            actor=actor,
            directory=directory,
            chunk_size=chunk_size,
            progress=lambda: for_console(err_console),
        )
        report = engine.down(
            to, dry_run=dry_run, force=force, wait_s=_lock_wait(lock_wait, old_wait)
        )
    _print_run(report, as_json, engine)


@app.command()
def repair(
    env: EnvOpt,
    dry_run: DryOpt = False,
    force: ForceOpt = False,
    lock_wait: LockWaitOpt = 0,
    old_wait: OldWaitOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    directory: DirOpt = DEFAULT_DIR,
) -> None:
    """After a deliberate edit: re-record checksums; mark vanished files deleted (audited)."""
    with _errors():
        engine = _engine(env, actor=actor, directory=directory)
        changes = engine.repair(
            dry_run=dry_run, force=force, wait_s=_lock_wait(lock_wait, old_wait)
        )
    if as_json:
        output.print_json({"env": env, "changes": changes})
        return
    for change in changes or ["nothing to repair"]:
        console.print(change, highlight=False)


@app.command()
def baseline(
    env: EnvOpt,
    version: Annotated[str, typer.Argument(help="Versions up to this one count as applied.")],
    force: ForceOpt = False,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    directory: DirOpt = DEFAULT_DIR,
) -> None:
    """Adopt an existing, never-migrated database at VERSION."""
    with _errors():
        result = _engine(env, actor=actor, directory=directory).baseline(version, force=force)
    if as_json:
        output.print_json(result)
        return
    _plan_table(result, f"{env} baselined at {version}")
