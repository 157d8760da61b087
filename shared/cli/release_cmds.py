"""`releasectl release …`: commands that change release state, sent through `release-commands`."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.cli.context import default_actor
from shared.cli.sending import ActorOpt, TimeoutOpt, WaitOpt, submit

app = typer.Typer(
    help="Create, promote, approve, reject, roll back, cancel, advance or abort releases.",
    no_args_is_help=True,
)
Release = Annotated[str, typer.Argument(help="Release id (its semver version).")]
Env = Annotated[str, typer.Option("--env", "-e", envvar="RELEASECTL_ENV", help="Environment.")]
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the audit trail).")]


@app.command()
def create(
    version: Release,
    commit: Annotated[str, typer.Option(help="Git commit SHA (7-40 hex).")],
    branch: Annotated[str, typer.Option(help="Git branch.")] = "main",
    author: Annotated[str | None, typer.Option(help="Who wrote it (default: you).")] = None,
    artifact: Annotated[
        list[str] | None, typer.Option(help="NAME=REF deployed artifact reference (repeatable).")
    ] = None,
    committed_at: Annotated[
        str | None,
        typer.Option(
            help="When the commit was made, RFC 3339 with offset (git show -s --format=%cI): "
            "DORA's lead time starts there, else at the release's creation."
        ),
    ] = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Record a new release (idempotent for the same version and commit)."""
    submit(
        "release.create",
        version=version,
        commit=commit,
        branch=branch,
        author=author or default_actor(),
        artifacts=dict(_pair(a) for a in artifact or []) or None,
        committed_at=committed_at,
        wait=wait,
        timeout=timeout,
    )


def _pair(text: str) -> tuple[str, str]:
    name, sep, ref = text.partition("=")
    if not sep or not name or not ref:
        raise typer.BadParameter(f"expected NAME=REF, got {text!r}", param_hint="--artifact")
    return name, ref


@app.command()
def promote(
    release: Release,
    env: Env,
    actor: ActorOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Start the rollout of a release to an environment."""
    submit("release.promote", release=release, env=env, actor=actor, wait=wait, timeout=timeout)


@app.command()
def approve(
    release: Release,
    env: Env,
    reason: Reason = "",
    actor: ActorOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Approve a rollout that is awaiting approval (not your own release), or a production
    bake paused for a person. Signed by your Firebase ID token."""
    submit(
        "release.approve",
        release=release,
        env=env,
        approver=actor,
        reason=reason,
        wait=wait,
        timeout=timeout,
    )


@app.command()
def reject(
    release: Release,
    env: Env,
    reason: Reason,
    actor: ActorOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Reject a rollout that is awaiting approval."""
    submit(
        "release.reject",
        release=release,
        env=env,
        approver=actor,
        reason=reason,
        wait=wait,
        timeout=timeout,
    )


@app.command()
def rollback(
    env: Env,
    reason: Reason,
    to: Annotated[str | None, typer.Option("--to", help="Release to restore.")] = None,
    actor: ActorOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Roll an environment back to its last known good release (frozen or not)."""
    submit(
        "release.rollback",
        env=env,
        reason=reason,
        actor=actor,
        to_release=to,
        wait=wait,
        timeout=timeout,
    )


@app.command()
def cancel(
    release: Release,
    env: Env,
    actor: ActorOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Cancel a rollout that has deployed nothing yet."""
    submit("release.cancel", release=release, env=env, actor=actor, wait=wait, timeout=timeout)


@app.command()
def advance(
    release: Release,
    env: Env,
    reason: Reason = "",
    actor: ActorOpt = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until handled; exit 1 if it is refused.")
    ] = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Skip the rest of the current canary step's bake: the next step's split now (or 100 %
    and live after the last step). Refused unless the rollout is in a canary step."""
    submit(
        "release.advance",
        release=release,
        env=env,
        reason=reason,
        actor=actor,
        wait=wait,
        timeout=timeout,
        follow_rollout=False,
    )


@app.command()
def abort(
    release: Release,
    env: Env,
    reason: Reason,
    actor: ActorOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """End a canary now: all traffic back to the stable release (a rollback)."""
    submit(
        "release.abort",
        release=release,
        env=env,
        reason=reason,
        actor=actor,
        wait=wait,
        timeout=timeout,
    )
