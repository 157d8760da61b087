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

from shared.config import EnvConfig, PlaneConfig
from shared.dead_letters import brief
from shared.domain.effects import (
    Alert,
    KillSwitches,
    MobileStoreCall,
    PublishEvent,
    RecordMigrations,
    Restore,
    RunBackup,
    RunGates,
    RunSmoke,
    SetFlags,
    SplitTraffic,
    StartBuild,
)
from shared.domain.messages import (
    BackupCompleted,
    FlagsSet,
    GatesCompleted,
    MigrationsRecorded,
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


def start_build(o: Outside, effect: StartBuild) -> None:
    o.ports.builds.start(effect)


def run_gates(o: Outside, effect: RunGates) -> GatesCompleted:
    report = o.ports.gates.run(o.release(effect.release), o.env(effect.env))
    return GatesCompleted(**_coords(effect), report=report)


def run_smoke(o: Outside, effect: RunSmoke) -> SmokeCompleted:
    report = o.ports.smoke.run(o.release(effect.release), o.env(effect.env), base_url=effect.url)
    return SmokeCompleted(**_coords(effect), report=report)


def backup(o: Outside, effect: RunBackup) -> BackupCompleted:
    return BackupCompleted(**_coords(effect), report=_backup(o, effect, "rollout"))


def _backup(o: Outside, effect: Any, trigger: Literal["rollout", "rollback"]) -> StepReport:
    """A backup as a step report: the record in `detail`, or why it failed (never raises: a
    failed backup is an outcome, which the rollout records)."""
    try:
        record = o.ports.backups.take(o.env(effect.env), trigger, effect.release)
    except Exception as exc:
        log.warning("backup of %s failed: %s", effect.env, brief(exc))
        return StepReport(ran=True, ok=False, summary=redact(brief(exc)))
    detail = record.model_dump(by_alias=True, mode="json")
    summary = f"backed up to {detail.get('location')}"
    return StepReport(ran=True, ok=True, summary=summary, detail=detail)


def restore(o: Outside, effect: Restore) -> RestoreCompleted:
    """A rollback backs the env's database up first where the env asks for backups (its
    result is on the rollback step; a failed backup does not hold the rollback up)."""
    backed_up = _backup(o, effect, "rollback") if o.env(effect.env).backs_up else None
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
}
