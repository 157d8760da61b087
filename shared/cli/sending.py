"""Publishing a command to `release-commands` and, with `--wait`, following what it did."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from shared.adapters import firestore_views as views
from shared.cli import context, output
from shared.domain.commands import Command, parse_command
from shared.domain.states import FAILURES, RESTING
from shared.errors import Refused
from shared.service.ports import Processed

WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Wait for the result; exit 1 if it is a failure.")
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=1, envvar="RELEASECTL_TIMEOUT", help="Seconds to wait.")
]
ActorOpt = Annotated[
    str | None, typer.Option("--actor", envvar="RELEASECTL_ACTOR", help="Who asks (default: you).")
]
POLL_S = 0.3


def build(payload: dict[str, Any]) -> Command:
    """Validate locally first: bad input exits 2 and publishes nothing."""
    clean = {k: v for k, v in payload.items() if v is not None}
    env = clean.get("env")
    if isinstance(env, str):
        context.plane().env(env)  # ConfigError -> exit 2
    try:
        return parse_command(json.dumps(clean).encode())
    except Refused as exc:
        output.err_console.print(f"[red]error:[/red] {exc.reason}")
        raise typer.Exit(2) from None


def publish(command: Command) -> str:
    """Publish one command to `release-commands`: the one path every human command takes, from
    `releasectl` and from the dashboard's approve and reject buttons. Returns the message id."""
    topic = context.settings().release_commands_topic
    data = command.model_dump_json(exclude_none=True).encode()
    return context.publisher().publish(topic, data)


def send(command: Command, *, wait: bool, timeout: float) -> None:
    topic = context.settings().release_commands_topic
    message_id = publish(command)
    output.console.print(f"published [bold]{command.type}[/] (message {message_id})")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    record = _poll(lambda: views.processed(context.db(), topic, message_id), deadline)
    if record is None:
        _fail(
            f"timed out after {timeout:.0f}s: the command was not handled (are the functions up?)"
        )
    assert record is not None
    if record.outcome == "refused":
        _fail(f"refused: {record.note}")
    if record.note:
        output.console.print(record.note)
    _follow(record, deadline)


def _follow(record: Processed, deadline: float) -> None:
    if record.release is None or record.env is None or record.outcome != "applied":
        return
    release, env = record.release, record.env
    last = None
    while True:
        rollout = views.read_rollout(context.db(), release, env)
        if rollout is not None and rollout.state != last:
            last = rollout.state
            output.console.print(f"{release} in {env}: {output.state(rollout.state)}")
        if rollout is not None and rollout.state in RESTING:
            if rollout.state in FAILURES:
                _fail(f"{release} in {env} ended {rollout.state}: {rollout.reason or ''}")
            return
        if time.monotonic() > deadline:
            _fail(f"timed out waiting for {release} in {env} (last state: {last})")
        time.sleep(POLL_S)


def _poll(fetch: Any, deadline: float) -> Any:
    while time.monotonic() < deadline:
        found = fetch()
        if found is not None:
            return found
        time.sleep(POLL_S)
    return None


def _fail(message: str) -> None:
    output.err_console.print(f"[red]{message}[/red]")
    raise typer.Exit(1)
