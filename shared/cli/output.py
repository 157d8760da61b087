"""How `releasectl` prints: rich tables for people, stable JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from shared.errors import ConfigError, ControlPlaneError

console = Console()
err_console = Console(stderr=True)
NO_CREDENTIALS = (
    "no local stack is running and no Google Cloud credentials were found: start the local "
    "stack with `./deploy.sh local`, or for Google Cloud run `gcloud auth application-default "
    "login` and set GOOGLE_CLOUD_PROJECT (docs/CLI.md)"
)


@contextmanager
def exit_codes(*bad_input: type[Exception]) -> Iterator[None]:
    """The exit codes of docs/CLI.md, each with one clear line: bad usage, config or input
    (`ConfigError` and `bad_input`) exits 2; anything else the control plane refuses exits 1."""
    from google.auth.exceptions import DefaultCredentialsError

    usage: tuple[type[Exception], ...] = (ConfigError, *bad_input)
    try:
        yield
    except usage as exc:
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    except DefaultCredentialsError:
        err_console.print(f"[red]error:[/red] {NO_CREDENTIALS}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    except ControlPlaneError as exc:
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


STATE_STYLE = {
    "live": "green",
    "baking": "cyan",
    "verifying": "cyan",
    "deploying": "cyan",
    "migrating": "cyan",
    "gating": "cyan",
    "pending": "cyan",
    "awaiting_approval": "yellow",
    "blocked": "red",
    "rejected": "red",
    "failed": "red",
    "rolling_back": "magenta",
    "rolled_back": "magenta",
    "rollback_failed": "bold red",
    "cancelled": "dim",
}


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    # plain print: rich would wrap long lines and break the JSON for scripts
    print(json.dumps(to_jsonable(value), indent=2, sort_keys=True, default=str))


def state(value: str | None) -> str:
    if value is None:
        return "-"
    return f"[{STATE_STYLE.get(value, 'white')}]{value}[/]"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def table(title: str, *columns: str) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        t.add_column(column)
    return t
