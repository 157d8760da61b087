"""`releasectl flags list|get|set|kill|unkill|eval`: one environment's feature flags.

Writes go straight to the env project's `featureFlags/{flag}` in a validated transaction; the
console-edit guard (`on_flag_written`) then audits them like any other edit.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any

import typer

from shared.cli import context, output
from shared.cli.output import console, err_console, exit_codes
from shared.clock import utcnow
from shared.flags import edits
from shared.flags.bucketing import InvalidUserId
from shared.flags.evaluation import FlagEvaluator, FlagSnapshot, Reason, explain
from shared.flags.model import Flag, FlagInvalid, check_name
from shared.flags.store import FirestoreFlagStore

app = typer.Typer(
    help="Feature flags: list, inspect, change, kill, evaluate.", no_args_is_help=True
)

EnvOpt = Annotated[
    str, typer.Option("--env", "-e", envvar="RELEASECTL_ENV", help="Environment name.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")]
FlagArg = Annotated[str, typer.Argument(help="Flag name, e.g. videoCalls.")]
ActorOpt = Annotated[
    str | None, typer.Option("--actor", envvar="RELEASECTL_ACTOR", help="Who asks (default: you).")
]


@cache
def _store(project: str) -> FirestoreFlagStore:
    from google.cloud import firestore

    from shared.bootstrap import cloud_project

    return FirestoreFlagStore(firestore.Client(project=cloud_project(context.settings(), project)))


def _env_store(env: str) -> FirestoreFlagStore:
    return _store(context.plane().env(env).project)  # unknown env: ConfigError → exit 2


def _doc_json(flag: Flag) -> dict[str, Any]:
    return flag.model_dump(mode="json", by_alias=True)


@app.command("list")
def list_flags(env: EnvOpt, as_json: JsonOpt = False) -> None:
    """Every flag of ENV, with invalid documents called out."""
    with exit_codes(FlagInvalid, InvalidUserId):
        docs = _env_store(env).all_docs()
        snapshot = FlagSnapshot.from_docs(docs.items())
    if as_json:
        flags = {n: _doc_json(f) for n, f in sorted(snapshot.flags.items())}
        output.print_json({"env": env, "flags": flags, "invalid": dict(snapshot.problems)})
        return
    t = output.table(f"Feature flags in {env}", "flag", "on", "rollout", "kill", "always", "by")
    for name, flag in sorted(snapshot.flags.items()):
        on = "[green]yes[/]" if flag.enabled else "no"
        kill = "[bold red]KILLED[/]" if flag.kill_switch else "-"
        rollout = f"{flag.rollout_percent:g}%"
        always = "yes" if flag.always_on else "-"
        t.add_row(name, on, rollout, kill, always, flag.updated_by or "-")
    console.print(t)
    for name, problem in sorted(snapshot.problems.items()):
        err_console.print(f"[yellow]invalid:[/] {name}: {problem}")


@app.command()
def get(
    flag: FlagArg,
    env: EnvOpt,
    audit: Annotated[int, typer.Option(min=0, max=100, help="Audit entries to show.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """One flag's value and its latest audit entries."""
    with exit_codes(FlagInvalid, InvalidUserId):
        check_name(flag)
        store = _env_store(env)
        doc = store.get_doc(flag)
        if doc is None:
            raise FlagInvalid(f"unknown flag {flag!r} in {env}")
        value = FlagSnapshot.from_docs([(flag, doc)])
        entries = store.audit_log(flag, audit) if audit else []
    problem = value.problems.get(flag)
    if as_json:
        output.print_json(
            {
                "flag": flag,
                "env": env,
                "value": _doc_json(value.flags[flag]),
                "invalid": problem,
                "audit": [e.model_dump(mode="json", by_alias=True) for e in entries],
            }
        )
        return
    console.print_json(data=_doc_json(value.flags[flag]))
    if problem:
        err_console.print(f"[yellow]stored document is invalid:[/] {problem}")
    t = output.table("Audit", "at", "action", "actor", "changes", "reason")
    for e in entries:
        t.add_row(output.when(e.at), e.action, e.actor, ", ".join(e.changes), e.reason)
    console.print(t)


def _write(env: str, flag: str, change: Callable[[Flag | None], Flag], actor: str | None) -> None:
    with exit_codes(FlagInvalid, InvalidUserId):
        check_name(flag)
        new = _env_store(env).change(flag, change, actor or context.default_actor(), utcnow())
    state = "KILLED" if new.kill_switch else "on" if new.enabled else "off"
    console.print(f"{flag} in {env}: {state}, rollout {new.rollout_percent:g}%")


@app.command("set")
def set_flag(
    flag: FlagArg,
    env: EnvOpt,
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--disabled", help="Turn the flag on or off.")
    ] = None,
    rollout: Annotated[
        float | None, typer.Option("--rollout", min=0, max=100, help="Percent, two decimals.")
    ] = None,
    create: Annotated[bool, typer.Option("--create", help="Add a new flag.")] = False,
    owner: Annotated[str | None, typer.Option(help="Owner (team or person).")] = None,
    description: Annotated[str | None, typer.Option(help="What the flag gates.")] = None,
    actor: ActorOpt = None,
) -> None:
    """Change a flag's enabled state or rollout percent (validated; protected flags refuse)."""
    edit = edits.Edit(flag, enabled, rollout, None, create, owner, description)
    if not edit.fields() and not create:
        err_console.print(
            "[red]error:[/red] nothing to change: give --enabled/--disabled or --rollout"
        )
        raise typer.Exit(2)
    _write(env, flag, edit, actor)


@app.command()
def kill(flag: FlagArg, env: EnvOpt, actor: ActorOpt = None) -> None:
    """Emergency: turn FLAG off for everyone in ENV, whatever else it says."""
    _write(env, flag, edits.kill(flag), actor)


@app.command()
def unkill(flag: FlagArg, env: EnvOpt, actor: ActorOpt = None) -> None:
    """Lift FLAG's kill switch (its other settings apply again)."""
    _write(env, flag, edits.unkill(flag), actor)


@app.command("eval")
def eval_flag(
    flag: FlagArg,
    users: Annotated[list[str], typer.Argument(help="One or more user ids.")],
    env: EnvOpt,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate FLAG for each USER exactly as the app does (same bucketing, same precedence)."""
    with exit_codes(FlagInvalid, InvalidUserId):
        check_name(flag)
        snapshot = FlagSnapshot.from_docs(_env_store(env).all_docs().items())
        evaluator = FlagEvaluator(snapshot)
        results = {u: evaluator.is_enabled(flag, u) for u in users}
        reasons = {u: explain(flag, snapshot.flags.get(flag), u) for u in users}
    if as_json:
        output.print_json(results)
        return
    t = output.table(f"{flag} in {env}", "user", "enabled", "why")
    for user in users:
        on = "[green]true[/]" if results[user] else "false"
        t.add_row(user, on, _why(reasons[user]))
    console.print(t)


def _why(reason: Reason) -> str:
    return reason.value.replace("_", " ")
