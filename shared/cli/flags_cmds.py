"""`releasectl flags list|get|set|kill|unkill|eval|publish|status|history`: one environment's
feature flags and their Remote Config templates.

`set`, `kill` and `unkill` are signed commands (`flags.set|kill|unkill` on `release-commands`):
the control plane checks your `flags` role in the env and writes `featureFlags/{flag}` in a
validated transaction as you; the flag guard (`on_flag_written`) then audits the write and
publishes the env's Remote Config templates. Edits made in the Firebase console are not
commands: the guard alone judges them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any

import typer

from shared.cli import context, output
from shared.cli.output import console, err_console, exit_codes
from shared.cli.sending import TimeoutOpt
from shared.errors import ConfigError
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


# Changes are commands (docs/FLAGS.md, "Who changes a flag"): signed by you, checked against
# the `flags` role of the env, carried out by the control plane.
WaitFlagOpt = Annotated[
    bool,
    typer.Option(
        "--wait/--no-wait",
        help="Wait until the control plane has changed the flag; exit 1 if it refused.",
    ),
]


def _send(
    env: str,
    flag: str,
    change: Callable[[Flag | None], Flag],
    payload: dict[str, Any],
    wait: bool,
    timeout: float,
) -> None:
    """Check the change here first (exit 2, nothing sent, if the flag's rules or Remote Config
    refuse it), then send it as a signed command."""
    from shared.cli.sending import submit
    from shared.flags.versions import TemplateRejected

    with exit_codes(FlagInvalid, InvalidUserId, TemplateRejected):
        check_name(flag)
        _precheck(env, flag, change)
    kind = payload.pop("type")
    submit(kind, **payload, env=env, flag=flag, wait=wait, timeout=timeout)


def _precheck(env: str, flag: str, change: Callable[[Flag | None], Flag]) -> None:
    """Refuse, before sending, a change the flag's rules or Remote Config (validateOnly) would
    refuse. Not being able to look must never block a change (a kill): the control plane
    validates it again before it writes."""
    from shared import bootstrap
    from shared.flags.model import parse_flag
    from shared.flags.versions import TemplateRejected

    try:
        doc = _env_store(env).get_doc(flag)
        new = change(parse_flag(flag, doc) if doc is not None else None)
        publisher = bootstrap.template_publisher(context.settings())
        if publisher is not None:  # None: flags are not delivered through Remote Config here
            publisher.check(env, flag, new)
    except (TemplateRejected, FlagInvalid, ConfigError):
        raise
    except Exception as exc:
        err_console.print(
            f"[yellow]warning:[/] not checked before sending ({exc}); the control plane "
            "validates the change before it writes it"
        )


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
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept with the change).")] = "",
    actor: ActorOpt = None,
    wait: WaitFlagOpt = True,
    timeout: TimeoutOpt = 120,
) -> None:
    """Change a flag's enabled state or rollout percent (validated; protected flags refuse)."""
    edit = edits.Edit(flag, enabled, rollout, None, create, owner, description)
    if not edit.fields() and not create:
        err_console.print(
            "[red]error:[/red] nothing to change: give --enabled/--disabled or --rollout"
        )
        raise typer.Exit(2)
    payload = {
        "type": "flags.set",
        "enabled": enabled,
        "rollout_percent": rollout,
        "create": create or None,
        "owner": owner,
        "description": description,
        "reason": reason or None,
        "actor": actor,
    }
    _send(env, flag, edit, payload, wait, timeout)


@app.command()
def kill(
    flag: FlagArg,
    env: EnvOpt,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept with the change).")] = "",
    actor: ActorOpt = None,
    wait: WaitFlagOpt = True,
    timeout: TimeoutOpt = 120,
) -> None:
    """Emergency: turn FLAG off for everyone in ENV, whatever else it says."""
    payload = {"type": "flags.kill", "reason": reason or None, "actor": actor}
    _send(env, flag, edits.kill(flag), payload, wait, timeout)


@app.command()
def unkill(
    flag: FlagArg,
    env: EnvOpt,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept with the change).")] = "",
    actor: ActorOpt = None,
    wait: WaitFlagOpt = True,
    timeout: TimeoutOpt = 120,
) -> None:
    """Lift FLAG's kill switch (its other settings apply again)."""
    payload = {"type": "flags.unkill", "reason": reason or None, "actor": actor}
    _send(env, flag, edits.unkill(flag), payload, wait, timeout)


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


# -- Remote Config: the templates that deliver the flags (docs/FLAGS.md) ------------------------


def _remote_config() -> Any:
    from shared import bootstrap

    api = bootstrap.remote_config(context.settings())
    if api is None:
        from shared.errors import ConfigError

        raise ConfigError(
            "no Remote Config to talk to: start the local stack (./deploy.sh local) or set "
            "RELEASECTL_REMOTE_CONFIG_URL"
        )
    return api


@app.command()
def publish(env: EnvOpt, as_json: JsonOpt = False) -> None:
    """Publish ENV's flags to its Remote Config templates now (a no-op if they already agree)."""
    from shared import bootstrap
    from shared.flags.versions import TemplateRejected

    with exit_codes(FlagInvalid, TemplateRejected):
        context.plane().env(env)
        publisher = bootstrap.template_publisher(context.settings(), _remote_config())
        if publisher is None:  # an api was given, so there is always one
            raise TemplateRejected("no Remote Config to publish to")
        done = publisher.publish(env, f"releasectl flags publish by {context.default_actor()}")
    if as_json:
        output.print_json(done.to_json())
        return
    for namespace, version in done.versions.items():
        what = "published" if done.wrote[namespace] else "already up to date"
        console.print(f"{namespace}: version {version} ({what})")


@app.command()
def status(env: EnvOpt, as_json: JsonOpt = False) -> None:
    """ENV's templates: version, who changed them last and how, drift from Firestore."""
    from shared.flags import templates
    from shared.flags.publishing import read_flags

    with exit_codes(FlagInvalid):
        project = context.plane().env(env).project
        api = _remote_config()
        flags, invalid = read_flags(_env_store(env))
        report = {}
        for namespace in templates.NAMESPACES:
            fetched = api.get(project, namespace)
            drift = templates.drift(namespace, fetched.template, flags)
            report[namespace] = {"version": fetched.version.to_json(), "drift": drift}
    if as_json:
        output.print_json({"env": env, "templates": report, "invalidFlags": sorted(invalid)})
        return
    for namespace, info in report.items():
        v = info["version"]
        who = v.get("updateUser", {}).get("email", "?")
        how = f"{v.get('updateOrigin', '?')}, {v.get('updateType', '?')}"
        console.print(
            f"[bold]{namespace}[/] v{v['versionNumber']} by {who} ({how}) {v.get('updateTime', '')}"
        )
        if not info["drift"]:
            console.print("  [green]in sync with Firestore[/]")
        for flag, how in info["drift"].items():
            console.print(f"  [yellow]drift[/] {flag}: {how}")
    for name in sorted(invalid):
        err_console.print(f"[yellow]invalid in Firestore (not published):[/] {name}")


@app.command()
def history(
    env: EnvOpt,
    limit: Annotated[int, typer.Option(min=1, max=300, help="Versions per template.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """ENV's template versions, newest first, with who made each and how."""
    from shared.flags import templates

    with exit_codes(FlagInvalid):
        project = context.plane().env(env).project
        api = _remote_config()
        versions = {ns: api.list_versions(project, ns, limit) for ns in templates.NAMESPACES}
    if as_json:
        output.print_json({ns: [v.to_json() for v in vs] for ns, vs in versions.items()})
        return
    t = output.table(
        f"Remote Config history of {env}",
        "template",
        "version",
        "at",
        "by",
        "origin",
        "type",
        "description",
    )
    for namespace, vs in versions.items():
        for v in vs:
            at = output.when(v.update_time) if v.update_time else "-"
            t.add_row(
                namespace,
                str(v.version_number),
                at,
                v.who,
                v.update_origin,
                v.update_type,
                v.description,
            )
    console.print(t)
