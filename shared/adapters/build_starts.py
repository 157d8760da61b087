"""`buildStarts/{key}`: one marker per rollout, attempt and step, so a build starts once.

The marker is created with create-only semantics (Firestore refuses a second create
atomically), before the build is asked for; the build id is added once it exists. Of two
runners of the same outbox, one creates the marker and starts the build, the other finds the
marker: with a build id it reuses it, without one it waits (the first is still starting it).
A marker left without a build id by a runner that died is taken over once it is stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.api_core.exceptions import AlreadyExists, FailedPrecondition
from google.cloud import firestore

from shared.dead_letters import doc_id

BUILD_STARTS = "buildStarts"
# A runner asks Cloud Build for the build within seconds of creating the marker.
STALE_START = timedelta(minutes=5)


class StartInProgress(Exception):
    """Another runner is starting this build right now: retry later (transient)."""


@dataclass(frozen=True)
class Claim:
    """What a runner must do for a step's build: reuse `build_id`, or start it (`takeover`:
    an earlier runner died after creating the marker, and may have started the build)."""

    build_id: str | None = None
    takeover: bool = False


class FirestoreBuildStarts:
    def __init__(self, db: Any) -> None:
        self.db = db

    def _ref(self, key: str) -> Any:
        return self.db.collection(BUILD_STARTS).document(doc_id(key))

    def claim(self, key: str, now: datetime) -> Claim:
        ref = self._ref(key)
        try:
            ref.create({"key": key, "claimedAt": now, "buildId": None})
            return Claim()
        except AlreadyExists:
            pass
        snap = ref.get()
        data = snap.to_dict() or {}
        if data.get("buildId"):
            return Claim(build_id=str(data["buildId"]))
        claimed_at = data.get("claimedAt")
        if isinstance(claimed_at, datetime) and now - claimed_at < STALE_START:
            raise StartInProgress(f"build {key} is being started by another runner")
        try:  # only one taker: the write is conditional on the marker as read
            ref.update(
                {"claimedAt": now},
                option=self.db.write_option(last_update_time=snap.update_time),
            )
        except FailedPrecondition:
            raise StartInProgress(f"build {key} was taken over by another runner") from None
        return Claim(takeover=True)

    def record(self, key: str, build_id: str) -> None:
        self._ref(key).update({"buildId": build_id, "startedAt": firestore.SERVER_TIMESTAMP})
