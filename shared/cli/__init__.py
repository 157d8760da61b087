"""`releasectl`: operate the release control plane (typer + rich).

Exit codes (docs/CLI.md): 0 ok, 1 the thing asked for failed, 2 bad usage or input.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from shared.cli import context, env_cmds, metrics_cmds, read_cmds, release_cmds
from shared.cli.output import exit_codes


class _Group(TyperGroup):
    """Maps the control plane's errors to one message and the exit codes of docs/CLI.md."""

    def invoke(self, ctx: Any) -> Any:
        with exit_codes():
            return super().invoke(ctx)


app = typer.Typer(
    cls=_Group,
    name="releasectl",
    help="Operate the Firebase release control plane.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _edge(
    target: Annotated[
        context.Target,
        typer.Option(
            "--target",
            envvar="RELEASECTL_TARGET",
            case_sensitive=False,
            help="Where to talk to: auto (emulator variables, else a running local stack, "
            "else Google Cloud), local, emulators or gcp.",
        ),
    ] = context.Target.AUTO,
) -> None:
    """Operate the Firebase release control plane."""
    context.choose_target(target)


app.command("status")(read_cmds.status)
app.command("history")(read_cmds.history)
app.command("dead-letters")(read_cmds.dead_letters)
app.command("metrics")(metrics_cmds.metrics)
app.add_typer(release_cmds.app, name="release")
app.add_typer(env_cmds.app, name="env")
# Later command groups register here: (module, name) pairs, imported on start.
_GROUPS: list[tuple[str, str]] = [
    ("shared.cli.deploy_cmds", "deploy"),
    ("shared.cli.local_cmds", "local"),
    ("shared.cli.flags_cmds", "flags"),
    ("shared.cli.secrets_cmds", "secrets"),
    ("shared.cli.migrate_cmds", "migrate"),
    ("shared.cli.auth_cmds", "auth"),
    ("shared.cli.security_cmds", "security"),
    ("shared.cli.backup_cmds", "backups"),
    ("shared.cli.mobile_cmds", "mobile"),
]


def _register_groups() -> None:
    import importlib

    for module, name in _GROUPS:
        app.add_typer(importlib.import_module(module).app, name=name)


_register_groups()


def main() -> None:
    app()
