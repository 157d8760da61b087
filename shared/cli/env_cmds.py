"""`releasectl env freeze|unfreeze`: stop promotions to an environment (rollbacks still run);
`releasectl env operations`: the flag changes and backups people asked for there."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.cli.sending import ActorOpt, TimeoutOpt, WaitOpt, submit

app = typer.Typer(help="Freeze or unfreeze an environment.", no_args_is_help=True)
EnvArg = Annotated[str, typer.Argument(help="Environment name.")]


@app.command()
def freeze(
    env: EnvArg,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why it is frozen.")],
    actor: ActorOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 120,
) -> None:
    """Refuse promotions to ENV until it is unfrozen."""
    submit("env.freeze", env=env, actor=actor, reason=reason, wait=wait, timeout=timeout)


@app.command()
def unfreeze(
    env: EnvArg,
    reason: Annotated[
        str, typer.Option("--reason", "-r", help="Why (kept in the audit trail).")
    ] = "",
    actor: ActorOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 120,
) -> None:
    """Accept promotions to ENV again."""
    submit("env.unfreeze", env=env, actor=actor, reason=reason, wait=wait, timeout=timeout)


@app.command()
def operations(
    env: EnvArg,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")] = False,
) -> None:
    """ENV's flag changes and backups asked for by people: who (verified), what, the result."""
    from shared.adapters import firestore_views as views
    from shared.cli import context, output
    from shared.cli.output import exit_codes

    with exit_codes():
        context.plane().env(env)
        ops = views.operations(context.db(), env, limit)
    if as_json:
        output.print_json(
            {"env": env, "operations": [o.model_dump(mode="json", by_alias=True) for o in ops]}
        )
        return
    t = output.table(f"Operations in {env}", "asked", "by", "what", "status", "result")
    for op in ops:
        t.add_row(output.when(op.requested_at), op.actor, op.asked, op.status, op.result)
    output.console.print(t)
