"""Operations on an environment that are not a rollout: flag changes and backups (pure).

A person asks for one with a signed command (`flags.set|kill|unkill`, `backup.take|restore`);
the bus records it as `environments/{env}/operations/{id}` (who, verified; what; `running`),
the outbox carries it out through the flag service or the backup service, and its result
(`OperationFinished`) closes the record (`done` or `failed`, with what happened). The id is the
command's event key, so `releasectl … --wait` finds it from the message id it published.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from shared.domain.commands import (
    EnvOperation,
    KillFlag,
    RestoreBackup,
    SetFlag,
    TakeBackup,
    UnkillFlag,
)
from shared.domain.messages import OperationFinished, OperationRunning
from shared.domain.model import Doc

Status = Literal["running", "done", "failed"]


class Operation(Doc):
    id: str  # the command's event key (`release-commands:<message id>`)
    env: str
    kind: str  # the command type
    actor: str  # the verified sender (or, unsigned where allowed, the name it gave)
    actor_uid: str | None = None
    asked: str  # what was asked, in words
    reason: str = ""
    requested_at: datetime
    status: Status = "running"
    result: str = ""
    detail: dict[str, Any] = {}
    finished_at: datetime | None = None


def asked(cmd: EnvOperation) -> str:
    """The request in a few words (`set videoCalls: enabled, rollout 10%`)."""
    if isinstance(cmd, SetFlag):
        parts = ["create"] if cmd.create else []
        if cmd.enabled is not None:
            parts.append("enabled" if cmd.enabled else "disabled")
        if cmd.rollout_percent is not None:
            parts.append(f"rollout {cmd.rollout_percent:g}%")
        parts += [f"{f} set" for f in ("owner", "description") if getattr(cmd, f) is not None]
        return f"set {cmd.flag}: {', '.join(parts)}"
    if isinstance(cmd, KillFlag):
        return f"kill {cmd.flag}"
    if isinstance(cmd, UnkillFlag):
        return f"unkill {cmd.flag}"
    if isinstance(cmd, TakeBackup):
        return "take a backup"
    if not isinstance(cmd, RestoreBackup):  # a new EnvOperation needs its words here
        raise TypeError(f"no description for {type(cmd).__name__}")
    protected = " including the protected collections" if cmd.include_protected else ""
    return f"restore backup {cmd.backup}{protected}"


def start(cmd: EnvOperation, key: str, now: datetime, actor_uid: str | None = None) -> Operation:
    return Operation(
        id=key,
        env=cmd.env,
        kind=cmd.type,
        actor=cmd.actor,
        actor_uid=actor_uid,
        asked=asked(cmd),
        reason=cmd.reason,
        requested_at=now,
    )


def finish(op: Operation, result: OperationFinished, now: datetime) -> Operation | None:
    """The record closed with `result`; None if it is closed already (a repeated result)."""
    if op.status != "running":
        return None
    return op.model_copy(
        update={
            "status": "done" if result.ok else "failed",
            "result": result.result,
            "detail": dict(result.detail),
            "finished_at": now,
        }
    )


def running(op: Operation, progress: OperationRunning) -> Operation | None:
    """The running record with what it is doing; None once it is closed (its end came first)
    or already says so (a repeated message)."""
    if op.status != "running":
        return None
    update = {"result": progress.result, "detail": dict(progress.detail)}
    if (op.result, op.detail) == (update["result"], update["detail"]):
        return None
    return op.model_copy(update=update)


def announced(op: Operation) -> bool:
    """Whether people hear of `op` ending: every backup taken or restored, and a flag change
    that failed (one that was made is announced by the flag guard, like a console edit)."""
    return op.status == "failed" or op.kind.startswith("backup.")
