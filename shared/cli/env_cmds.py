"""`releasectl env freeze|unfreeze`: stop promotions to an environment (rollbacks still run)."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.cli.context import default_actor
from shared.cli.sending import ActorOpt, TimeoutOpt, WaitOpt, build, send

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
    payload = {
        "type": "env.freeze",
        "env": env,
        "actor": actor or default_actor(),
        "reason": reason,
    }
    send(build(payload), wait=wait, timeout=timeout)


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
    payload = {
        "type": "env.unfreeze",
        "env": env,
        "actor": actor or default_actor(),
        "reason": reason,
    }
    send(build(payload), wait=wait, timeout=timeout)
