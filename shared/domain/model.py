"""Release state as stored in Firestore (docs/ARCHITECTURE.md). Pure data: no I/O, no clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.domain.states import IN_FLIGHT, State

StepName = Literal[
    "gates",
    "approval",
    "backup",
    "migrate",
    "deploy",
    "smoke",
    "canary",
    "finish",
    "bake",
    "watch",
    "rollback",
    "flags",
]
# Build-backed steps: their status follows Cloud Build's status events.
BUILD_STEPS: tuple[StepName, ...] = ("migrate", "deploy", "finish")
# What a deploy build deploys (docs/CANARY.md): `all` of the release; `split`, only the
# targets that can split traffic (the first build of a canary); `rest`, the targets that
# cannot (Hosting, Firestore rules and indexes), once the canary passed (the `finish` step).
DeployPart = Literal["all", "split", "rest"]


class Doc(BaseModel):
    """A Firestore document: camelCase field names, snake_case attributes."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="python")


class Release(Doc):
    version: str
    commit: str
    branch: str
    author: str
    created_at: datetime
    # who sent `release.create`, verified (a signed command); the author is who wrote it
    created_by: str | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)
    history_seq: int = 0
    # the commit's time where the release was told it (CI's `commit-time` step, or the
    # command): DORA's change lead time starts there, else at `created_at`
    committed_at: datetime | None = None


class StepRecord(Doc):
    """One step of a rollout: its status, times, build id, evidence and failure reason."""

    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    build_id: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class Rollout(Doc):
    release: str
    env: str
    state: State
    attempt: int = 1
    actor: str
    created_at: datetime
    updated_at: datetime
    state_since: datetime
    reason: str | None = None
    steps: dict[StepName, StepRecord] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.release}@{self.env}#{self.attempt}"


# A deploy's artifact: where the new release answers by itself, when it is deployed beside the
# stable release (a canary) and the env's own URL still serves the stable one. Smoke tests use it.
OWN_URL = "deploy.url"


class Deployed(Doc):
    """A release running in an environment, with what a rollback needs to restore it."""

    release: str
    artifacts: dict[str, str] = Field(default_factory=dict)
    since: datetime


class Lock(Doc):
    release: str
    attempt: int
    acquired_at: datetime
    lease_until: datetime

    def live(self, now: datetime) -> bool:
        return now < self.lease_until


class Freeze(Doc):
    by: str
    reason: str
    since: datetime


class LastMove(Doc):
    """The environment's most recent rollout move: what `status` shows after a rollout ends."""

    release: str
    attempt: int
    state: State
    reason: str | None = None
    at: datetime


class EnvironmentState(Doc):
    name: str
    last: LastMove | None = None
    current: Deployed | None = None
    previous: Deployed | None = None
    lock: Lock | None = None
    frozen: Freeze | None = None

    def holder(self, now: datetime) -> Lock | None:
        """The lock if someone holds it now; an expired lease counts as free."""
        return self.lock if self.lock is not None and self.lock.live(now) else None

    def held_by(self, rollout: Rollout, now: datetime) -> bool:
        lock = self.holder(now)
        return lock is not None and (lock.release, lock.attempt) == (
            rollout.release,
            rollout.attempt,
        )

    def lease(self, rollout: Rollout, now: datetime, minutes: int) -> Lock:
        acquired = self.lock.acquired_at if self.held_by(rollout, now) and self.lock else now
        return Lock(
            release=rollout.release,
            attempt=rollout.attempt,
            acquired_at=acquired,
            lease_until=now + timedelta(minutes=minutes),
        )


class HistoryEntry(Doc):
    """One line of the append-only audit `releases/{id}/history/{seq}`."""

    seq: int
    event_id: str
    env: str
    attempt: int
    from_state: State | None = Field(alias="from")
    to_state: State = Field(alias="to")
    actor: str
    # the verified identity of a person's signed command (the actor is their email or uid)
    actor_uid: str | None = None
    at: datetime
    reason: str | None = None


def in_flight(rollout: Rollout | None) -> bool:
    return rollout is not None and rollout.state in IN_FLIGHT
