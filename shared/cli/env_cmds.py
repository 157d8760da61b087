"""`releasectl env freeze|unfreeze`: stop promotions to an environment (rollbacks still run)."""

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
