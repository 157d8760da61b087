"""What each outbox effect does once its transition has committed: one runner per effect type
(`RUNNERS`, the outbox's dispatch table, as `handlers.HANDLERS` is the messages').

A runner that runs a step returns the step's result as a follow-up message, which the bus
handles like any other event; the others return None. Every runner is safe to repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from shared.backups.model import BackupRecord
from shared.config import EnvConfig, PlaneConfig
from shared.dead_letters import brief
from shared.domain.commands import RestoreBackup, TakeBackup
from shared.domain.effects import (
    Alert,
    AnnounceOperation,
    KillSwitches,
    MobileStoreCall,
    PublishEvent,
    RecordMigrations,
    Restore,
    RunBackup,
    RunGates,
    RunOperation,
    RunSmoke,
    SetFlags,
    SplitTraffic,
    StartBuild,
)
from shared.domain.messages import (
    BackupCompleted,
    BackupStarted,
    FlagsSet,
    GatesCompleted,
    MigrationsRecorded,
    OperationFinished,
    OperationRunning,
    RestoreCompleted,
    SmokeCompleted,
    StepReport,
    TrafficSplit,
)
from shared.domain.model import Release
from shared.errors import Refused
from shared.mobile.messages import StoreAnswered
from shared.mobile.ports import StoreRejected
from shared.redaction import redact
from shared.service.ports import Ports


@dataclass(frozen=True)
class Outside:
    """What the runners reach: the ports, the environments, and the release records."""

    ports: Ports
    plane: PlaneConfig
    read_release: Callable[[str], Release | None]

    def env(self, name: str) -> EnvConfig:
        return self.plane.env(name)

    def release(self, version: str) -> Release:
        release = self.read_release(version)
        if release is None:
            raise Refused(f"unknown release {version!r}")
        return release


log = logging.getLogger(__name__)
Runner = Callable[[Outside, Any], object | None]


def publish(o: Outside, effect: PublishEvent) -> None:
    o.ports.events.publish(effect.event)


def alert(o: Outside, effect: Alert) -> None:
    o.ports.events.alert(effect.alert)


def announce_operation(o: Outside, effect: AnnounceOperation) -> None:
    o.ports.events.operation(effect.operation)


def start_build(o: Outside, effect: StartBuild) -> None:
    o.ports.builds.start(effect)


def run_gates(o: Outside, effect: RunGates) -> GatesCompleted:
    report = o.ports.gates.run(o.release(effect.release), o.env(effect.env))
    return GatesCompleted(**_coords(effect), report=report)


def run_smoke(o: Outside, effect: RunSmoke) -> SmokeCompleted:
    report = o.ports.smoke.run(o.release(effect.release), o.env(effect.env), base_url=effect.url)
    return SmokeCompleted(**_coords(effect), report=report)


def backup(o: Outside, effect: RunBackup) -> BackupCompleted | BackupStarted:
    """The backup step: finished at once (a dump), or started (a managed export, whose end the
    tick's poll reports as `BackupCompleted`)."""
    report, running = _backup(o, effect, "rollout")
    if running:
        return BackupStarted(**_coords(effect), report=report)
    return BackupCompleted(**_coords(effect), report=report)


def _backup(
    o: Outside, effect: Any, trigger: Literal["rollout", "rollback"]
) -> tuple[StepReport, bool]:
    """A backup as a step report, and whether it is still running (never raises: a failed
    backup is an outcome, which the rollout records)."""
    try:
        record = o.ports.backups.take(
            o.env(effect.env), trigger, effect.release, attempt=effect.attempt
        )
    except Exception as exc:
        why = _why(exc)
        log.warning("backup of %s failed: %s", effect.env, why)
        return StepReport(ran=True, ok=False, summary=redact(why)), False
    return backup_report(record), record.running


def _why(exc: Exception) -> str:
    """A refusal's own words; any other failure, short."""
    return exc.reason if isinstance(exc, Refused) else brief(exc)


def backup_report(record: BackupRecord) -> StepReport:
    """What a backup record says as a step's result: where it is (or is going), or why it
    failed."""
    detail = record.model_dump(by_alias=True, mode="json", exclude_none=True)
    if record.error is not None:
        return StepReport(ran=True, ok=False, summary=redact(record.error), detail=detail)
    if record.running:
        summary = f"backing up to {record.location} (operation {record.lro})"
    else:
        summary = f"backed up to {record.location}"
    return StepReport(ran=True, ok=True, summary=summary, detail=detail)


def restore(o: Outside, effect: Restore) -> RestoreCompleted:
    """A rollback backs the env's database up first where the env asks for backups (its
    result is on the rollback step; a failed backup does not hold the rollback up)."""
    backed_up = _backup(o, effect, "rollback")[0] if o.env(effect.env).backs_up else None
    if effect.target is None:
        summary = f"no earlier release is recorded in {effect.env}: nothing to restore"
        report = StepReport(ran=True, ok=False, summary=summary)
    else:
        report = o.ports.deploy_target.restore(effect.target, o.env(effect.env))
    if backed_up is not None:
        backup_detail = {"ok": backed_up.ok, "summary": backed_up.summary, **backed_up.detail}
        report = report.model_copy(update={"detail": {**report.detail, "backup": backup_detail}})
    return RestoreCompleted(**_coords(effect), report=report)


def split_traffic(o: Outside, effect: SplitTraffic) -> TrafficSplit:
    cfg = o.env(effect.env)
    report = o.ports.deploy_target.split(effect.canary, effect.stable, effect.percent, cfg)
    return TrafficSplit(**_coords(effect), percent=effect.percent, report=report)


def set_flags(o: Outside, effect: SetFlags) -> FlagsSet:
    flags, cfg = o.ports.flags, o.env(effect.env)
    changes = (
        flags.turn_off(effect.release, cfg, effect.undo)
        if effect.undo
        else flags.turn_on(effect.release, cfg, effect.flags)
    )
    return FlagsSet(**_coords(effect), undo=bool(effect.undo), changes=tuple(changes))


def record_migrations(o: Outside, effect: RecordMigrations) -> MigrationsRecorded:
    """Legacy: outboxes written before a migrate success carried its record itself."""
    applied = o.ports.migrations.applied(effect.release, o.env(effect.env))
    return MigrationsRecorded(**_coords(effect), applied=applied)


def mobile_store(o: Outside, effect: MobileStoreCall) -> StoreAnswered:
    """The store's answer, or what it refused (a 4xx); anything else raises (retried)."""
    coords = {"release": effect.release, "platform": effect.platform, "call_id": effect.call.id}
    try:
        view = o.ports.stores.carry_out(effect)
    except StoreRejected as exc:
        return StoreAnswered(**coords, error=exc.reason)
    return StoreAnswered(**coords, view=view)


def kill_switches(o: Outside, effect: KillSwitches) -> None:
    o.ports.kill_switches.kill(o.env(effect.env), effect.flags, f"release {effect.release}")


def run_operation(o: Outside, effect: RunOperation) -> OperationFinished | OperationRunning:
    """A flag change or a backup a person asked for; its result closes the operation. A
    managed export or import runs on: the operation records its long-running operation, and
    the tick's poll closes it when it ends."""
    cmd, cfg = effect.command, o.env(effect.env)
    if isinstance(cmd, TakeBackup | RestoreBackup):
        report, running = _backup_operation(o, cfg, cmd, effect.operation)
        if running:
            return OperationRunning(
                env=effect.env,
                operation=effect.operation,
                result=report.summary,
                detail=report.detail,
            )
    else:
        report = o.ports.flag_changes.apply(cfg, cmd)
    return OperationFinished(
        env=effect.env,
        operation=effect.operation,
        ok=report.ok,
        result=report.summary,
        detail=report.detail,
    )


def _backup_operation(
    o: Outside, cfg: EnvConfig, cmd: TakeBackup | RestoreBackup, operation: str
) -> tuple[StepReport, bool]:
    """A backup taken or restored by hand, and whether it runs on (a managed export or
    import, which the tick's poll ends). A failure is its outcome (recorded, never retried
    behind the person's back: they see it and may ask again)."""
    try:
        if isinstance(cmd, TakeBackup):
            record = o.ports.backups.take(
                cfg, "manual", None, by=cmd.actor, for_operation=operation
            )
            if record.running:
                return backup_report(record), True
            return taken_report(record), False
        restored, collections, written = o.ports.backups.restore(
            cmd.backup,
            cfg,
            force=cmd.force,
            include_protected=cmd.include_protected,
            for_operation=operation,
        )
    except Exception as exc:
        why = _why(exc)
        log.warning("%s in %s failed: %s", cmd.type, cfg.name, why)
        return StepReport(ran=True, ok=False, summary=redact(why)), False
    return restore_report(restored, collections, written), restored.restoring is not None


def restore_report(record: BackupRecord, collections: list[str], written: int | None) -> StepReport:
    """A restore's result, for its operation: running (a managed import: where it is going,
    its long-running operation), done, or failed with Firestore's reason."""
    run = record.restoring
    into = ", ".join(collections) or "nothing"
    detail: dict[str, Any] = {"backup": record.id, "collections": collections, "documents": written}
    if run is not None:
        detail["lro"] = run.lro
    if run is not None and run.error is not None:
        return StepReport(ran=True, ok=False, summary=redact(run.error), detail=detail)
    if run is not None and run.running:
        summary = f"restoring {record.id} into {record.env} ({into}): operation {run.lro}"
        return StepReport(ran=True, ok=True, summary=summary, detail=detail)
    count = f"{written} documents" if written is not None else "the documents"
    summary = f"restored {count} of {record.id} into {record.env} ({into})"
    return StepReport(ran=True, ok=True, summary=summary, detail=detail)


def taken_report(record: BackupRecord) -> StepReport:
    """A manual backup's result, for its operation."""
    report = backup_report(record)
    return report if not report.ok else report.model_copy(update={"summary": _taken(record)})


def _taken(record: BackupRecord) -> str:
    count = f"{record.documents} documents, " if record.documents is not None else ""
    what = f"{count}{len(record.collections)} collections"
    return f"backup {record.id} of {record.env}: {what} → {record.location}"


def _coords(effect: Any) -> dict[str, Any]:
    return {"release": effect.release, "env": effect.env, "attempt": effect.attempt}


# Effect type -> runner. Every effect a transition may ask for is listed here.
RUNNERS: dict[type, Runner] = {
    PublishEvent: publish,
    Alert: alert,
    StartBuild: start_build,
    RunGates: run_gates,
    RunSmoke: run_smoke,
    Restore: restore,
    SetFlags: set_flags,
    SplitTraffic: split_traffic,
    RecordMigrations: record_migrations,
    RunBackup: backup,
    MobileStoreCall: mobile_store,
    KillSwitches: kill_switches,
    RunOperation: run_operation,
    AnnounceOperation: announce_operation,
}
