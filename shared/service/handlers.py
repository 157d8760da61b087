"""One handler per message type, each run inside one transaction by the message bus.

A handler loads what it needs through the `Tx`, lets the pure domain decide, and stages the
writes; the side effects it asks for go into the outbox with the processed-event record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.config import PRODUCTION, EnvConfig, PlaneConfig
from shared.domain import canary, operations, workflow
from shared.domain.builds import CiOrigin, StepBuild, origin
from shared.domain.change import Change
from shared.domain.commands import (
    AbortCanary,
    AdvanceCanary,
    ApproveRelease,
    CancelRollout,
    CreateRelease,
    EnvOperation,
    FreezeEnv,
    KillFlag,
    PromoteRelease,
    RejectRelease,
    RestoreBackup,
    RollbackEnv,
    SetFlag,
    TakeBackup,
    UnfreezeEnv,
    UnkillFlag,
)
from shared.domain.effects import AnnounceOperation, Effect, RunOperation
from shared.domain.messages import (
    BackupCompleted,
    BackupStarted,
    BakeVerdict,
    BuildStatusChanged,
    FlagsSet,
    GatesCompleted,
    LiveBreach,
    MigrationsRecorded,
    OperationFinished,
    OperationRunning,
    RestoreCompleted,
    SmokeCompleted,
    TrafficSplit,
)
from shared.domain.model import Freeze, Release
from shared.errors import ConfigError, NotFound, Refused
from shared.mobile import handler as mobile
from shared.service.ports import Tx

if TYPE_CHECKING:
    from shared.approvals.tokens import Identity


@dataclass
class Context:
    tx: Tx
    plane: PlaneConfig
    now: datetime
    event_id: str
    key: str = ""  # the event's key (`topic:id`): names what the event asks for
    effects: list[Effect] = field(default_factory=list)
    wrote: bool = False
    note: str = ""
    release: str | None = None  # the rollout the message turned out to be about
    signer: Identity | None = None  # who signed the command, verified

    def env_config(self, env: str) -> EnvConfig:
        try:
            return self.plane.env(env)
        except ConfigError as exc:
            raise Refused(str(exc)) from None

    def change(self, version: str, env: str, release: Release | None = None) -> Change:
        cfg = self.env_config(env)
        release = release or self.tx.release(version)
        if release is None:
            raise NotFound(f"unknown release {version!r}")
        return Change(
            now=self.now,
            event_id=self.event_id,
            cfg=cfg,
            release=release,
            env=self.tx.environment(env),
            rollout=self.tx.rollout(version, env),
        )

    def save(self, c: Change) -> None:
        self.note, self.release = c.note, c.release.version
        if c.rollout is None or not (c.rollout_changed or c.env_changed):
            return  # the domain decided nothing changes (a stale or repeated event)
        if c.rollout_changed:
            self.tx.put_rollout(c.rollout)
        if c.history:
            self.tx.put_release(c.release)
            for entry in c.history:
                if self.signer is not None and entry.actor == self.signer.name:
                    entry.actor_uid = self.signer.uid
                self.tx.add_history(c.release.version, entry)
        if c.env_changed:
            self.tx.put_environment(c.env)
        self.effects.extend(c.effects)
        self.wrote = True


Handler = Callable[[Any, Context], None]


def _on_rollout(rule: Callable[[Change, Any], None]) -> Handler:
    def handle(msg: Any, ctx: Context) -> None:
        c = ctx.change(msg.release, msg.env)
        rule(c, msg)
        ctx.save(c)

    return handle


def create_release(cmd: CreateRelease, ctx: Context) -> None:
    release = workflow.create_release(ctx.tx.release(cmd.version), cmd, ctx.now)
    if release is None:
        ctx.note = f"release {cmd.version} already exists for commit {cmd.commit}"
        return
    if ctx.signer is not None:
        release.created_by = ctx.signer.name
    ctx.tx.put_release(release)
    ctx.wrote = True


def rollback(cmd: RollbackEnv, ctx: Context) -> None:
    env = ctx.tx.environment(cmd.env)
    which = workflow.rollout_to_roll_back(env)
    if which is None:
        raise Refused(f"nothing is deployed in {cmd.env}: nothing to roll back")
    c = ctx.change(which[0], cmd.env)
    workflow.rollback(c, cmd)
    ctx.save(c)


def freeze(cmd: FreezeEnv, ctx: Context) -> None:
    ctx.env_config(cmd.env)
    env = ctx.tx.environment(cmd.env)
    if env.frozen is not None:
        ctx.note = f"{cmd.env} is already frozen by {env.frozen.by}"
        return
    env.frozen = Freeze(by=cmd.actor, reason=cmd.reason, since=ctx.now)
    ctx.tx.put_environment(env)
    ctx.wrote = True


def unfreeze(cmd: UnfreezeEnv, ctx: Context) -> None:
    ctx.env_config(cmd.env)
    env = ctx.tx.environment(cmd.env)
    if env.frozen is None:
        ctx.note = f"{cmd.env} is not frozen"
        return
    env.frozen = None
    ctx.tx.put_environment(env)
    ctx.wrote = True


def env_operation(cmd: EnvOperation, ctx: Context) -> None:
    """A flag change or backup: recorded (who, what) and handed to the outbox, which carries
    it out through the flag or backup service and reports back (`operation_finished`)."""
    cfg = ctx.env_config(cmd.env)
    if isinstance(cmd, RestoreBackup) and cfg.name == PRODUCTION and not cmd.force:
        raise Refused("restoring production overwrites its documents: it needs force (--force)")
    uid = ctx.signer.uid if ctx.signer is not None else None
    op = operations.start(cmd, ctx.key, ctx.now, uid)
    ctx.tx.put_operation(op)
    token_free = cmd.model_copy(update={"id_token": None})  # nosec B105 -- drops the token
    ctx.effects.append(RunOperation(env=cmd.env, operation=op.id, command=token_free))
    ctx.note = f"{cmd.type} in {cmd.env} by {cmd.actor}: {op.asked}"
    ctx.wrote = True


def operation_finished(msg: OperationFinished, ctx: Context) -> None:
    op = ctx.tx.operation(msg.env, msg.operation)
    closed = operations.finish(op, msg, ctx.now) if op is not None else None
    if op is None or closed is None:
        ctx.note = f"operation {msg.operation} in {msg.env} is already closed (or unknown)"
        return
    ctx.tx.put_operation(closed)
    if operations.announced(closed):
        ctx.effects.append(AnnounceOperation(operation=closed))
    ctx.note = f"{op.kind} in {op.env} {closed.status}: {msg.result}"
    ctx.wrote = True


def operation_running(msg: OperationRunning, ctx: Context) -> None:
    op = ctx.tx.operation(msg.env, msg.operation)
    updated = operations.running(op, msg) if op is not None else None
    if op is None or updated is None:
        ctx.note = f"operation {msg.operation} in {msg.env} is closed, unknown or up to date"
        return
    ctx.tx.put_operation(updated)
    ctx.note = f"{op.kind} in {op.env} running: {msg.result}"
    ctx.wrote = True


def build_status(msg: BuildStatusChanged, ctx: Context) -> None:
    source = origin(msg.build)
    if isinstance(source, StepBuild):
        c = ctx.change(source.release, source.env)
        artifacts = None
        if source.step in ("deploy", "finish") and msg.build.succeeded:
            artifacts = ctx.tx.deployment(source.release, source.env, source.attempt, source.step)
        workflow.build_progress(c, source, msg.build, artifacts, msg.migrations)
        ctx.save(c)
    elif isinstance(source, CiOrigin):
        _ci_build(msg, source, ctx)
    else:
        ctx.note = f"build {msg.build.id} was not started by the control plane or CI; ignored"


def _ci_build(msg: BuildStatusChanged, ci: CiOrigin, ctx: Context) -> None:
    plan = workflow.ci_release(msg.build, ci)
    if plan is None:
        ctx.note = f"ci build {msg.build.id} of {ci.branch} ({msg.build.status}) starts nothing"
        return
    cmd, env = plan
    existing = ctx.tx.release(cmd.version)
    c = ctx.change(cmd.version, env, workflow.create_release(existing, cmd, ctx.now) or existing)
    if c.rollout is not None:
        ctx.note = f"release {cmd.version} already has a rollout in {env}"
        return
    promote = PromoteRelease(type="release.promote", release=cmd.version, env=env, actor=cmd.author)
    workflow.promote(c, promote)
    ctx.save(c)


# Message type -> handler. Every message the bus accepts is listed here.
HANDLERS: dict[type, Handler] = {
    CreateRelease: create_release,
    PromoteRelease: _on_rollout(workflow.promote),
    ApproveRelease: _on_rollout(workflow.approve),
    RejectRelease: _on_rollout(workflow.reject),
    CancelRollout: _on_rollout(workflow.cancel),
    AdvanceCanary: _on_rollout(workflow.advance_canary),
    AbortCanary: _on_rollout(workflow.abort_canary),
    RollbackEnv: rollback,
    FreezeEnv: freeze,
    UnfreezeEnv: unfreeze,
    SetFlag: env_operation,
    KillFlag: env_operation,
    UnkillFlag: env_operation,
    TakeBackup: env_operation,
    RestoreBackup: env_operation,
    OperationFinished: operation_finished,
    OperationRunning: operation_running,
    BuildStatusChanged: build_status,
    GatesCompleted: _on_rollout(workflow.gates_completed),
    SmokeCompleted: _on_rollout(workflow.smoke_completed),
    RestoreCompleted: _on_rollout(workflow.restore_completed),
    BackupCompleted: _on_rollout(workflow.backup_completed),
    BackupStarted: _on_rollout(workflow.backup_started),
    BakeVerdict: _on_rollout(workflow.bake_verdict),
    LiveBreach: _on_rollout(workflow.live_breach),
    FlagsSet: _on_rollout(workflow.flags_set),
    TrafficSplit: _on_rollout(canary.traffic_split),
    MigrationsRecorded: _on_rollout(workflow.migrations_recorded),
    **mobile.HANDLERS,
}


def coordinates(msg: object) -> tuple[str | None, str | None]:
    """The (release, env) a message is about, so the bus can batch its first reads."""
    if isinstance(msg, BuildStatusChanged):
        try:
            source = origin(msg.build)
        except Refused:
            return None, None
        return (source.release, source.env) if isinstance(source, StepBuild) else (None, None)
    if type(msg) in mobile.HANDLERS:
        return msg.release, None  # type: ignore[attr-defined]
    return getattr(msg, "release", None), getattr(msg, "env", None)
