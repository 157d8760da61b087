"""Messages that are not commands: build status, step results and the monitoring tick.

Step results come back from side effects run after a commit (gates, smoke tests, a platform
rollback, a bake verdict); they go through the same idempotent path as any Pub/Sub event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.builds import Build


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class CheckResult(_Message):
    name: str
    ok: bool
    required: bool = True
    detail: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)


class StepReport(_Message):
    """What a step adapter found. `ran=False` says the step is not implemented or configured."""

    ran: bool
    ok: bool
    summary: str
    checks: tuple[CheckResult, ...] = ()
    detail: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def not_run(cls, summary: str, *, ok: bool) -> StepReport:
        return cls(ran=False, ok=ok, summary=summary)

    def failures(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if c.required and not c.ok]


class BuildStatusChanged(_Message):
    build: Build
    # a migrate build's success: what it applied to the env, read from the env's schema history
    # before the transition (`versions`, `schemaVersion`, `snapshot`, or `error`)
    migrations: dict[str, Any] | None = None


class _StepResult(_Message):
    release: str
    env: str
    attempt: int
    report: StepReport


class GatesCompleted(_StepResult):
    kind: Literal["gates"] = "gates"


class SmokeCompleted(_StepResult):
    kind: Literal["smoke"] = "smoke"


class BackupCompleted(_StepResult):
    kind: Literal["backup"] = "backup"


class BackupStarted(_StepResult):
    """A backup that runs on (a managed export): where, and its long-running operation; the
    tick's poll of it brings `BackupCompleted`."""

    kind: Literal["backup_started"] = "backup_started"


class RestoreCompleted(_StepResult):
    kind: Literal["restore"] = "restore"


class BakeVerdict(_StepResult):
    """The bake analysis at the end of (or during) a bake. ok=False is a confirmed breach."""

    kind: Literal["bake"] = "bake"
    finished: bool
    error: str | None = None  # the metrics source could not be read (the report says so too)


class TrafficSplit(_StepResult):
    """What setting a canary step's traffic split did (`percent`: the new release's share)."""

    kind: Literal["traffic"] = "traffic"
    percent: int


class LiveBreach(_StepResult):
    """A confirmed breach on an env whose release is `live`: the breaching windows
    `breach_start`..`breach_end` (window starts) and the analysis that found them."""

    kind: Literal["live"] = "live"
    breach_start: datetime
    breach_end: datetime
    window_seconds: int


class FlagsSet(_Message):
    """What setting a release's flags wrote (`undo`: taking them back), change by change."""

    kind: Literal["flags"] = "flags"
    release: str
    env: str
    attempt: int
    undo: bool
    changes: tuple[dict[str, Any], ...]


class MigrationsRecorded(_Message):
    """What a release's migrate build applied to an env: `versions`, `schemaVersion`, the
    pre-run `snapshot`, or `error` when the schema history could not be read.

    Legacy: a migrate success now carries this itself (`BuildStatusChanged.migrations`); kept
    for outboxes written before, which still hold a `RecordMigrations` effect."""

    kind: Literal["migrations"] = "migrations"
    release: str
    env: str
    attempt: int
    applied: dict[str, Any]


class OperationFinished(_Message):
    """What an operation on an environment did (docs/FLAGS.md, docs/BACKUPS.md): `ok` False
    says it was refused or failed, `result` says why or what it did."""

    kind: Literal["operation"] = "operation"
    env: str
    operation: str  # its id: the command's event key
    ok: bool
    result: str
    detail: dict[str, Any] = Field(default_factory=dict)


class OperationRunning(_Message):
    """An operation that runs on after the run that started it (a managed export or import,
    polled by the tick): what it is doing (`result`) and its long-running operation (`detail`)
    recorded on the still running operation; its end comes as `OperationFinished`."""

    kind: Literal["operation_running"] = "operation_running"
    env: str
    operation: str
    result: str
    detail: dict[str, Any] = Field(default_factory=dict)


class MonitoringTick(_Message):
    model_config = ConfigDict(frozen=True, extra="forbid")
    env: str | None = None
