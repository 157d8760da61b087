"""What the engine stores and reports (pydantic at the Firestore and CLI boundaries).

Firestore documents use camelCase field names, like the rest of the control plane's state.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.model import Doc

# Collections holding users' data and money: a migration writes them only if its file declares
# them in `protected_writes` and the run is given --force.
PROTECTED_COLLECTIONS = frozenset({"users", "balances", "payments", "chats"})

Direction = Literal["up", "down", "baseline", "deleted"]
Outcome = Literal["running", "success", "failed"]


class MigrationInfo(Doc):
    """One migration file as found on disk."""

    number: int
    name: str
    file: str
    version: str
    description: str
    checksum: str
    has_down: bool
    protected_writes: tuple[str, ...] = ()


class Checkpoint(Doc):
    """Where a chunked collection pass stands, saved after every chunk.

    `cursor` is the id of the last document whose write is known to be committed; `pending`
    holds the documents in flight with each one's update time as read, so a resumed run can tell
    a document it already wrote (time changed) from one it did not (time unchanged).
    """

    cursor: str | None = None
    # [[id, updateTime], ...] as one JSON string: one field, so Firestore does not index
    # thousands of array entries on every checkpoint
    pending: str = ""
    chunks: int = 0
    docs: int = 0
    done: bool = False

    def in_flight(self) -> list[tuple[str, str]]:
        return [(str(i), str(t)) for i, t in json.loads(self.pending)] if self.pending else []

    def set_in_flight(self, ids: list[str], times: list[str]) -> None:
        pairs = list(zip(ids, times, strict=True))
        self.pending = json.dumps(pairs, separators=(",", ":")) if pairs else ""


class VersionRecord(Doc):
    """`_schema/current/history/{version}`: the last thing that happened to one version."""

    version: str
    description: str = ""
    checksum: str = ""
    file: str | None = None
    direction: Direction
    outcome: Outcome
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: int | None = None
    docs_read: int = 0
    docs_written: int = 0
    actor: str
    release: str | None = None
    dry_run: bool = False
    run_id: str = ""
    error: str | None = None
    snapshot: str | None = None
    checkpoints: dict[str, Checkpoint] = Field(default_factory=dict)
    previous_checksum: str | None = None
    repaired_by: str | None = None
    repaired_at: datetime | None = None


class SchemaCurrent(Doc):
    """`_schema/current`: the version the environment's database is at."""

    version: str | None
    updated_at: datetime
    updated_by: str
    release: str | None = None


class Status(StrEnum):
    PENDING = "pending"  # on disk, not applied (or reverted by `down`)
    APPLIED = "applied"
    CHANGED = "changed"  # applied, but the file was edited since (checksum differs)
    MISSING = "missing"  # applied, but no file on disk any more
    FAILED = "failed"  # a run stopped in the middle: `up`/`down` resumes it
    BASELINE = "baseline"  # at or below the baseline: taken as applied, never run


class PlanItem(BaseModel):
    version: str
    description: str
    status: Status
    file: str | None = None
    local_checksum: str | None = None
    applied_checksum: str | None = None
    applied_at: datetime | None = None
    failed_direction: Direction | None = None
    has_down: bool = False
    protected_writes: tuple[str, ...] = ()


class Plan(BaseModel):
    current: str | None
    baseline: str | None = None
    items: list[PlanItem]

    def with_status(self, *statuses: Status) -> list[PlanItem]:
        return [i for i in self.items if i.status in statuses]


class VersionRun(BaseModel):
    version: str
    description: str
    direction: Literal["up", "down"]
    outcome: Outcome
    docs_read: int = 0
    docs_written: int = 0
    duration_ms: int = 0
    resumed: bool = False
    reread_on_resume: int = 0  # documents a resumed run read again to finish the killed chunk
    error: str | None = None


class RunReport(BaseModel):
    env: str
    project: str
    direction: Literal["up", "down"]
    dry_run: bool
    from_version: str | None
    to_version: str | None
    steps: list[VersionRun] = Field(default_factory=list)
    snapshot: str | None = None


class AppliedVersions(BaseModel):
    """What the rollout's `migrate` step records: the versions a release applied to an env."""

    model_config = ConfigDict(frozen=True)

    env: str
    release: str | None
    versions: list[str]
    schema_version: str | None
    snapshot: str | None = None
