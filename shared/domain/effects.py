"""Side effects a transition asks for. They are written in the same transaction as the state
change (the outbox), carried out after the commit, and each is safe to repeat."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.builds import StepKind
from shared.domain.commands import EnvOperation
from shared.domain.model import Deployed, DeployPart, Doc
from shared.domain.operations import Operation
from shared.domain.states import State
from shared.mobile.model import Platform, StoreCall


class ReleaseEvent(Doc):
    """One state change, published to `release-events` (notifications, dashboards).

    `key` is the same for every copy of the same change, so consumers can deduplicate.
    """

    key: str
    release: str
    env: str
    attempt: int
    from_state: State | None = Field(alias="from")
    to_state: State = Field(alias="to")
    actor: str
    reason: str | None = None
    at: datetime
    event_id: str


class BreachAlert(Doc):
    """A confirmed breach on a live environment, published to `release-events` as
    `monitoring.breach` (notifications). `key` names the incident: one alert per incident."""

    key: str = Field(min_length=1, max_length=500)
    env: str
    release: str | None = None
    metric: str | None = None
    reason: str | None = None
    at: datetime
    evidence: dict[str, Any] = Field(default_factory=dict)


class _Effect(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=None)
    release: str
    env: str
    attempt: int


class StartBuild(_Effect):
    kind: Literal["start_build"] = "start_build"
    step: StepKind
    config: str
    env_project: str
    commit: str = ""  # the release's source: what the build checks out
    part: DeployPart = "all"  # what a deploy build deploys (ignored by the migrate build)

    @property
    def key(self) -> str:
        """Same for every repeat of this step of this attempt: the build is started once."""
        return f"{self.release}/{self.env}/{self.attempt}/{self.step}"


class PublishEvent(_Effect):
    kind: Literal["publish"] = "publish"
    event: ReleaseEvent


class RunGates(_Effect):
    kind: Literal["run_gates"] = "run_gates"


class RunSmoke(_Effect):
    """Smoke-test the new release: at `url` (its own, when it serves beside the stable release
    as a canary: the deploy's `deploy.url` artifact), else at the env's URL."""

    kind: Literal["run_smoke"] = "run_smoke"
    url: str | None = None


class Restore(_Effect):
    kind: Literal["restore"] = "restore"
    target: Deployed | None


class RunBackup(_Effect):
    """Back the env's database up before the rollout migrates (`steps.backup`)."""

    kind: Literal["backup"] = "backup"


class Alert(_Effect):
    kind: Literal["alert"] = "alert"
    alert: BreachAlert


class RecordMigrations(_Effect):
    """Read which migrations the release's migrate build applied to the env (its schema
    history) and record them on the rollout's `migrate` step.

    Legacy: no longer asked for (the migrate success carries it); kept so that outboxes
    written before are still carried out."""

    kind: Literal["record_migrations"] = "record_migrations"


class SetFlags(_Effect):
    """Turn the release's flags on once it is live (`flags`: its `artifacts["flags"]` spec), or
    take back what it turned on (`undo`: the changes recorded when it went live)."""

    kind: Literal["set_flags"] = "set_flags"
    flags: str = ""
    undo: list[dict[str, Any]] = Field(default_factory=list)


class SplitTraffic(_Effect):
    """Send `percent` of the traffic to the new release's revisions (`canary`: its recorded
    artifacts) and the rest to the stable release's; 100 = all to the new one."""

    kind: Literal["split_traffic"] = "split_traffic"
    percent: int = Field(ge=1, le=100)
    canary: dict[str, str] = Field(default_factory=dict)
    stable: Deployed | None = None


class MobileStoreCall(BaseModel):
    """Make a train's store call (Play or App Store Connect); its answer comes back as a
    `StoreAnswered` follow-up. Safe to repeat: each call sets a state, it does not add one."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["mobile_store"] = "mobile_store"
    release: str
    platform: Platform
    build: int
    call: StoreCall


class KillSwitches(BaseModel):
    """Turn the kill switch of each of a release's flags on in `env` (the feature goes off)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["kill_switches"] = "kill_switches"
    release: str
    env: str
    flags: tuple[str, ...]
    reason: str


class RunOperation(BaseModel):
    """Carry out an operation on an environment (a flag change, a backup): `command` as its
    verified sender sent it, less the token; its result comes back as `OperationFinished`."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["operation"] = "operation"
    env: str
    operation: str  # `environments/{env}/operations/{id}`: the command's event key
    command: Annotated[EnvOperation, Field(discriminator="type")]


class AnnounceOperation(BaseModel):
    """Tell people an operation ended: published to `release-events` as
    `operation.finished` (notifications)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["announce_operation"] = "announce_operation"
    operation: Operation


Effect = Annotated[
    StartBuild
    | PublishEvent
    | Alert
    | RunGates
    | RunSmoke
    | Restore
    | SetFlags
    | RecordMigrations
    | RunBackup
    | SplitTraffic
    | MobileStoreCall
    | KillSwitches
    | RunOperation
    | AnnounceOperation,
    Field(discriminator="kind"),
]
