"""`releasectl auth login|status|token|logout`: the Firebase ID token that signs approvals.

The approver signs in to the control project's Firebase Authentication (email + password);
`release approve` / `reject` attach a fresh ID token. No command prints the refresh token or
the password; only `auth token` prints an ID token, on stdout, for scripts. On a `demo-` project
with the local stack no sign-in is needed (approvals carry unsigned emulator tokens).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer

from shared.approvals import credentials
from shared.cli import context, output
from shared.cli.output import console, err_console, exit_codes
from shared.clock import utcnow

PASSWORD_ENV = "RELEASECTL_PASSWORD"  # noqa: S105  # nosec B105 -- a variable name, not a password

app = typer.Typer(
    help="Sign in to the control project's Firebase Authentication to sign approvals.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")]


def _http(ctx: typer.Context) -> httpx.Client | None:
    """An HTTP client handed in as the root context's `obj` (tests), else None (a real one)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, httpx.Client) else None


def _left(expires_at: datetime, now: datetime) -> str:
    minutes = int((expires_at - now).total_seconds() // 60)
    return "expired" if minutes < 0 else f"{minutes} min left"


@app.command()
def login(
    ctx: typer.Context,
    email: Annotated[
        str | None,
        typer.Option("--email", envvar="RELEASECTL_EMAIL", help="Your approver account."),
    ] = None,
) -> None:
    """Sign in with email + password (hidden prompt, or RELEASECTL_PASSWORD) and keep the session.

    The session (refresh token, current ID token) goes to
    $XDG_CONFIG_HOME/releasectl/login-<project>.json, readable by you only.
    """
    with exit_codes():
        settings = context.settings()
        credentials.require_sign_in(settings)  # a config problem fails before any prompt
        project = settings.project
        if not email:
            email = str(typer.prompt("email"))
        password = os.environ.get(PASSWORD_ENV) or str(typer.prompt("password", hide_input=True))
        session = credentials.login(settings, email, password, utcnow(), _http(ctx))
    console.print(
        f"signed in to {project} as [bold]{session.email}[/] (uid {session.uid}); "
        f"session kept in {credentials.session_path(project)}"
    )


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """Who you are signed in as, and what `release approve` will attach (never the tokens)."""
    now = utcnow()
    with exit_codes():
        settings = context.settings()
        project = settings.project
        source = credentials.approval_source(settings)
        session = credentials.load_session(project)
    env_token = os.environ.get(credentials.ID_TOKEN_ENV, "").strip()
    env_claims = credentials.unverified_claims(env_token) if env_token else {}
    env_exp = env_claims.get("exp")
    info: dict[str, Any] = {
        "project": project,
        "approvals": source,
        "signed_in": session is not None,
        "email": session.email if session else None,
        "uid": session.uid if session else None,
        "approver": session.approver if session else None,
        "email_verified": session.email_verified if session else None,
        "id_token_expires_at": session.id_token_expires_at.isoformat() if session else None,
        "session_file": str(credentials.session_path(project)),
        "env_token_email": env_claims.get("email") if env_token else None,
        "env_token_expires_at": (
            datetime.fromtimestamp(env_exp, UTC).isoformat()
            if isinstance(env_exp, int | float)
            else None
        ),
    }
    if as_json:
        output.print_json(info)
    else:
        _print_status(info, source, session, now)
    if source == "none":
        raise typer.Exit(1)


def _print_status(
    info: dict[str, Any],
    source: credentials.ApprovalSource,
    session: credentials.Session | None,
    now: datetime,
) -> None:
    project = info["project"]
    if source == "emulator":
        console.print(
            f"{project} is a demo project on the local stack: approvals carry unsigned "
            "emulator tokens for the approver, no sign-in needed"
        )
    if source == "env":
        who = info["env_token_email"] or "unknown (not a readable JWT)"
        console.print(
            f"{credentials.ID_TOKEN_ENV} is set: approvals attach it (for {who}; "
            f"expires {info['env_token_expires_at'] or 'unknown'}), not the stored session"
        )
    if session is not None:
        console.print(
            f"signed in to {project} as [bold]{session.email}[/] (uid {session.uid}); ID token "
            f"valid until {output.when(session.id_token_expires_at)} UTC "
            f"({_left(session.id_token_expires_at, now)}, refreshed when needed); "
            f"session in {info['session_file']}"
        )
        if not session.email_verified:
            console.print(
                f"[yellow]{session.email} is not verified in Firebase Authentication:[/] "
                f"approvals name you by uid ({session.uid}); ask an admin to verify the email"
            )
    elif source == "none":
        err_console.print(f"not signed in to {project}: run `releasectl auth login`")


@app.command()
def token(ctx: typer.Context) -> None:
    """Print a fresh ID token on stdout (refreshed if it has under 5 minutes left), for scripts."""
    with exit_codes():
        id_token = credentials.id_token_for(context.settings(), utcnow(), _http(ctx))
    print(id_token)


@app.command()
def logout() -> None:
    """Delete the stored session (an admin can also revoke its refresh token in Firebase)."""
    with exit_codes():
        project = context.settings().project
        removed = credentials.delete_session(project)
    if removed:
        console.print(f"signed out of {project}: deleted {credentials.session_path(project)}")
    else:
        console.print(f"not signed in to {project}: nothing to delete")


@app.command()
def whoami(
    actor: Annotated[
        str | None,
        typer.Option("--actor", envvar="RELEASECTL_ACTOR", help="Who (local stack only)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Who your commands are signed as, verified the way the control plane verifies them, and
    the roles in the token (what you may send where)."""
    from shared.approvals.tokens import FirebaseTokenVerifier
    from shared.domain.roles import COMMAND_ROLES, denial

    with exit_codes():
        settings = context.settings()
        who_asked = actor or context.default_actor()
        token_ = credentials.command_token(settings, who_asked, utcnow())
        me = FirebaseTokenVerifier(settings.project, check_revoked=False).verify(token_)
    plane = settings.plane
    allowed = {
        env: sorted(
            kind
            for kind in COMMAND_ROLES
            if denial(kind, env, me.name, me.roles, plane.env(env).roles) is None
        )
        for env in plane.environments
    }
    info = {
        "project": settings.project,
        "name": me.name,
        "uid": me.uid,
        "email": me.email,
        "email_verified": me.email_verified,
        "verified_by": me.verified_by,
        "roles": sorted(me.roles),
        "may_send": allowed,
    }
    if as_json:
        output.print_json(info)
        return
    console.print(
        f"[bold]{me.name}[/] (uid {me.uid}) on {settings.project}, verified by {me.verified_by}; "
        f"roles: {', '.join(sorted(me.roles)) or 'none'}"
    )
    for env, kinds in allowed.items():
        console.print(f"  {env}: {', '.join(kinds) or 'nothing'}")


@app.command()
def grant(
    who: Annotated[str, typer.Argument(help="The person's email (or uid locally).")],
    roles: Annotated[list[str], typer.Argument(help="releaser approver operator flags viewer")],
) -> None:
    """Set WHO's roles to exactly ROLES (custom claim `roles` on their Firebase user; on the
    local stack, the local users file). They take effect with the person's next ID token."""
    from shared.approvals import grants
    from shared.domain.roles import ROLES

    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise typer.BadParameter(
            f"unknown role {', '.join(unknown)} (known: {', '.join(ROLES)})", param_hint="ROLES"
        )
    with exit_codes():
        held, where = grants.grant(context.settings(), who, roles)
    console.print(f"{who} now holds {', '.join(held)} ({where})")
