"""Publishing a command to `release-commands` and, with `--wait`, following what it did."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, NoReturn

import typer

from shared.adapters import firestore_views as views
from shared.approvals.signing import sender_field
from shared.cli import context, output
from shared.cli.context import default_actor
from shared.clock import utcnow
from shared.dead_letters import event_key
from shared.domain.commands import FREE_TEXT_FIELDS, Command, EnvOperation, parse_command
from shared.domain.model import Rollout
from shared.domain.states import RESTING, State
from shared.domain.workflow import paused_bake
from shared.errors import Refused
from shared.redaction import redact

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


def submit(
    kind: str, *, wait: bool, timeout: float, follow_rollout: bool = True, **fields: Any
) -> None:
    """Build the `kind` command from `fields` and send it: what every `releasectl` command
    that changes state does."""
    send(build({"type": kind, **fields}), wait=wait, timeout=timeout, follow_rollout=follow_rollout)


def build(payload: dict[str, Any]) -> Command:
    """Validate locally first: bad input exits 2 and publishes nothing. The sender is you
    unless `--actor` names someone; the command is signed by its sender (their ID token) and
    its free text scrubbed of credentials before it leaves."""
    clean = {k: v for k, v in payload.items() if v is not None}
    field = sender_field(str(clean.get("type", "")))
    if field is not None and not clean.get(field):
        clean[field] = default_actor()
    env = clean.get("env")
    if isinstance(env, str):
        context.plane().env(env)  # ConfigError -> exit 2
    for name in FREE_TEXT_FIELDS:
        if isinstance(clean.get(name), str):
            clean[name] = redact(clean[name])
    clean = sign(clean)
    try:
        return parse_command(json.dumps(clean).encode())
    except Refused as exc:
        output.err_console.print(f"[red]error:[/red] {exc.reason}")
        raise typer.Exit(2) from None


def sign(payload: dict[str, Any], sender: str | None = None) -> dict[str, Any]:
    """`payload` signed by its sender (`sender`, else the one it names, else you), when the
    config asks."""
    from shared.approvals.credentials import command_token  # httpx: on use
    from shared.approvals.signing import must_sign, signed

    settings = context.settings()
    kind = str(payload.get("type", ""))
    if not must_sign(settings.plane.control, kind) or "id_token" in payload:
        return payload
    field = sender_field(kind)
    named = payload.get(field) if field else None
    sender = sender or (str(named) if named else default_actor())
    return signed(payload, token=command_token(settings, sender, utcnow()), sender=sender)


# What each command asks for: the resting states in which it got it (`--wait` exits 0), and
# those where it waits for a person (exit 0 too, said so). Any other resting state means it
# did not get what it asked for (exit 1).
ACHIEVED: dict[str, frozenset[State]] = {
    "release.promote": frozenset({State.LIVE}),
    "release.approve": frozenset({State.LIVE}),
    "release.reject": frozenset({State.REJECTED}),
    "release.cancel": frozenset({State.CANCELLED}),
    "release.rollback": frozenset({State.ROLLED_BACK}),
}
WAITS_FOR_A_PERSON = frozenset({State.AWAITING_APPROVAL})


def publish(command: Command) -> str:
    """Publish one command to `release-commands`: the one path every human command takes, from
    `releasectl` and from the dashboard's approve and reject buttons. Returns the message id."""
    topic = context.settings().release_commands_topic
    data = command.model_dump_json(exclude_none=True).encode()
    return context.publisher().publish(topic, data)


def send(command: Command, *, wait: bool, timeout: float, follow_rollout: bool = True) -> None:
    """Publish `command`; with `wait`, wait until it is handled (exit 1 if refused) and,
    with `follow_rollout`, until its rollout rests."""
    topic = context.settings().release_commands_topic
    message_id = publish(command)
    output.console.print(f"published [bold]{command.type}[/] (message {message_id})")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    record = _poll(lambda: views.processed(context.db(), topic, message_id), deadline)
    if record is None:
        _fail(
            f"{command.type} timed out after {timeout:.0f}s: the command was not handled "
            "(are the functions up?)"
        )
    if record.outcome == "refused":
        _fail(f"{command.type} refused: {record.note}")
    if record.note:
        output.console.print(record.note, soft_wrap=True)
    if isinstance(command, EnvOperation):
        follow_operation(command.env, event_key(topic, message_id), deadline, command.type)
        return
    rollout_moved = record.outcome == "applied" and None not in (record.release, record.env)
    if not (follow_rollout and rollout_moved):
        _done(f"{command.type} done: {record.note or record.outcome}")
        return
    follow(record.release, record.env, deadline, command.type)


def follow(
    release: str,
    env: str,
    deadline: float,
    kind: str = "release.promote",
    after_attempt: int = 0,
) -> None:
    """Print the rollout's states until it rests (done, awaiting a person, or a paused bake),
    then say in one line whether `kind` got what it asked for (exit 1 if not). Attempts up to
    `after_attempt` are old: `local push` waits for the one its build starts."""
    wanted = ACHIEVED.get(kind, RESTING)
    last = None
    while True:
        rollout = views.read_rollout(context.db(), release, env)
        if rollout is not None and rollout.attempt <= after_attempt:
            rollout = None
        if rollout is not None and rollout.state != last:
            last = rollout.state
            output.console.print(f"{release} in {env}: {output.state(rollout.state)}")
        if rollout is not None and _resting(rollout):
            _verdict(kind, rollout, wanted)
            return
        if time.monotonic() > deadline:
            _fail(f"{kind} timed out waiting for {release} in {env} (last state: {last})")
        time.sleep(POLL_S)


def follow_operation(env: str, key: str, deadline: float, kind: str) -> None:
    """Wait for a flag change or backup the control plane carries out; say in one line what it
    did (exit 0) or why it failed (exit 1)."""
    op = _poll(lambda: _finished(views.operation(context.db(), env, key)), deadline)
    if op is None:
        _fail(f"{kind} timed out: {env} has not finished it yet (still running, or no runner)")
    if op.status == "failed":
        _fail(f"{kind} failed: {op.result}")
    _done(f"{kind} done: {op.result}")


def _finished(op: Any) -> Any:
    return op if op is not None and op.status != "running" else None


def _resting(rollout: Rollout) -> bool:
    return rollout.state in RESTING or paused_bake(rollout)


def _verdict(kind: str, rollout: Rollout, wanted: frozenset[State]) -> None:
    """One line: did the command get what it asked for? Exit 1 if not."""
    where = f"{rollout.release} in {rollout.env}"
    why = f": {rollout.reason}" if rollout.reason else ""
    if rollout.state in wanted:
        _done(f"{kind} done: {where} is {rollout.state}{why}")
    elif rollout.state in WAITS_FOR_A_PERSON or paused_bake(rollout):
        what = "bake paused" if paused_bake(rollout) else str(rollout.state)
        _done(f"{kind} done so far: {where} waits for a person ({what})")
    else:
        _fail(f"{kind} failed: {where} ended {rollout.state}{why}")


def _done(message: str) -> None:
    output.console.print(f"[green]{message}[/green]", soft_wrap=True)  # one line, for scripts


def _poll(fetch: Any, deadline: float) -> Any:
    while time.monotonic() < deadline:
        found = fetch()
        if found is not None:
            return found
        time.sleep(POLL_S)
    return None


def _fail(message: str) -> NoReturn:
    output.err_console.print(f"[red]{message}[/red]", soft_wrap=True)
    raise typer.Exit(1)
