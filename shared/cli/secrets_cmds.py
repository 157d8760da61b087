"""`releasectl secrets check|template|rotate|finish-rotation|scan` (docs/SECRETS.md).

Values go in through stdin only (`rotate`), and never come out: no command prints one.
"""

from __future__ import annotations

import getpass
import json
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer

from shared.bootstrap import secret_store
from shared.cli import context, output
from shared.cli.output import console, err_console, exit_codes
from shared.clock import utcnow
from shared.config import REPO_ROOT, EnvConfig
from shared.errors import Refused
from shared.redaction import redact
from shared.secrets import checks
from shared.secrets import handler as secrets_handler
from shared.secrets.model import SecretsConfig
from shared.secrets.scan import DEFAULT_BASELINE, run_scan

app = typer.Typer(help="Check, template and rotate the declared secrets.", no_args_is_help=True)
EnvOpt = Annotated[
    str, typer.Option("--env", "-e", envvar="RELEASECTL_ENV", help="Environment name.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")]
_STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


def _load(env: str) -> tuple[SecretsConfig, EnvConfig]:
    plane = context.plane()
    cfg = plane.env(env)
    return secrets_handler.SecretsSettings().config(set(plane.environments)), cfg


@app.command()
def check(
    env: EnvOpt,
    as_json: JsonOpt = False,
    stripe: Annotated[
        bool, typer.Option("--stripe/--no-stripe", help="Also check the Stripe key modes.")
    ] = True,
) -> None:
    """Each declared secret exists, has an enabled version and is not overdue for rotation."""
    with exit_codes(Refused):
        config, cfg = _load(env)
        report = secrets_handler.check_env(config, env, secret_store(cfg), utcnow(), stripe=stripe)
    if as_json:
        rows = [{**c.model_dump(), "status": checks.status_of(c)} for c in report.checks]
        output.print_json({"env": env, "ok": report.ok, "summary": report.summary, "checks": rows})
    else:
        t = output.table(f"Secrets in {env} ({cfg.project})", "check", "status", "detail")
        for c in report.checks:
            status = checks.status_of(c)
            t.add_row(c.name, f"[{_STATUS_STYLE[status]}]{status}[/]", c.detail)
        console.print(t)
        console.print(report.summary)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def template(
    env: EnvOpt,
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """A `.env`-style template of the secrets ENV needs: names and descriptions only."""
    with exit_codes(Refused):
        config, _ = _load(env)
    text = secrets_handler.template(config, env)
    if out is None:
        print(text)
        return
    if out.exists():
        err_console.print(f"[red]error:[/red] {out} exists; refusing to overwrite it")
        raise typer.Exit(2)
    out.write_text(text + "\n", encoding="utf-8")
    console.print(f"wrote {out}")


def _read_stdin() -> bytes:
    if sys.stdin.isatty():
        # typed at a terminal: do not echo it
        return getpass.getpass("new value (hidden): ").encode("utf-8")
    return sys.stdin.buffer.read()


@app.command()
def rotate(
    name: Annotated[str, typer.Argument(help="Secret name, as declared in secrets.toml.")],
    env: EnvOpt,
) -> None:
    """Add a new version of NAME from stdin; the previous one stays enabled (grace period).

    The value is read from stdin only, never from an argument (arguments end up in shell
    history and process lists). Run `secrets finish-rotation` after the grace period.
    """
    with exit_codes(Refused):
        config, cfg = _load(env)
        config.spec(name)  # unknown name: fail before reading anything
        version = secrets_handler.rotate(config, env, secret_store(cfg), name, _read_stdin())
    hours = config.defaults.grace_hours
    console.print(
        f"{name} in {env}: version {version.id} added and enabled; older versions stay "
        f"enabled for {hours}h, then run: releasectl secrets finish-rotation {name} --env {env}"
    )


@app.command("finish-rotation")
def finish_rotation(
    env: EnvOpt,
    name: Annotated[
        str | None, typer.Argument(help="Secret name (default: every declared secret).")
    ] = None,
    now: Annotated[
        bool, typer.Option("--now", help="End the grace period now (a leaked secret).")
    ] = False,
) -> None:
    """Disable the versions a rotation replaced, once the grace period is over."""
    with exit_codes(Refused):
        config, cfg = _load(env)
        store = secret_store(cfg)
        names = [config.spec(name).name] if name else [s.name for s in config.for_env(env)]
        for each in names:
            if name is None and store.describe(each) is None:
                continue  # sweeping all: a missing secret is the check's business
            plan = secrets_handler.finish_rotation(config, store, each, utcnow(), force=now)
            console.print(plan.note)


@app.command()
def scan(
    baseline: Annotated[
        Path, typer.Option(help="Audited detect-secrets baseline.")
    ] = DEFAULT_BASELINE,
    root: Annotated[Path, typer.Option(help="Source tree to scan.")] = REPO_ROOT,
    as_json: JsonOpt = False,
) -> None:
    """Scan the source for secrets; exit 1 on any finding not audited in the baseline."""
    with exit_codes(Refused):
        found = run_scan(root, baseline)
    if as_json:
        output.print_json({"new": [vars(f) for f in found]})
    for finding in found if not as_json else []:
        err_console.print(f"[red]new finding:[/red] {finding}")
    if found:
        if not as_json:
            err_console.print(
                f"{len(found)} new finding(s). Remove the secret (and rotate it: docs/SECRETS.md), "
                f"or audit a false positive into {baseline.name} (docs/SECRETS.md)."
            )
        raise typer.Exit(1)
    if not as_json:
        console.print("secret scan: no new findings")


@app.command()
def exposed(
    name: Annotated[str, typer.Argument(help="The secret that leaked.")],
    env: EnvOpt,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Where and how it leaked.")],
    actor: Annotated[
        str | None, typer.Option("--actor", envvar="RELEASECTL_ACTOR", help="Who reports it.")
    ] = None,
) -> None:
    """Tell the secret's owner and the on-call (release-events → Slack, Discord, mail).

    Step 4 of the exposure procedure in docs/SECRETS.md; it changes no secret itself.
    """
    with exit_codes(Refused):
        config, _ = _load(env)
        spec = config.spec(name)
        if not reason.strip():
            raise Refused("--reason must say where and how the secret leaked")
        body = {
            "key": f"{env}/{name}/{uuid.uuid4().hex[:12]}",  # one notice per report
            "secret": name,
            "env": env,
            "owner": spec.owner,
            "actor": actor or context.default_actor(),
            "reason": redact(reason),
            "at": utcnow().isoformat(),
        }
        topic = context.settings().release_events_topic
        data = json.dumps(body).encode()
        message_id = context.publisher().publish(
            topic, data, kind="secret.exposed", env=env, secret=name
        )
    console.print(f"published secret.exposed for {name} in {env} (message {message_id})")
