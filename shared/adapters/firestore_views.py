"""Read models for `releasectl status` and `history`, straight from Firestore."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.adapters.firestore_store import (
    DEAD_LETTERS,
    ENVIRONMENTS,
    HISTORY,
    PROCESSED,
    RELEASES,
    ROLLOUTS,
    TRAINS,
)
from shared.config import PlaneConfig
from shared.dead_letters import DeadLetter, doc_id, event_key
from shared.domain.model import EnvironmentState, HistoryEntry, Release, Rollout
from shared.mobile.model import Train, TrainEntry
from shared.service.ports import Processed


class EnvStatus(BaseModel):
    env: str
    project: str
    approval_required: bool
    state: EnvironmentState
    in_flight: Rollout | None = None
    live: Rollout | None = None  # the rollout of the release serving now (`current`)


class ReleaseView(BaseModel):
    release: Release
    rollouts: list[Rollout]
    history: list[HistoryEntry]


def env_status(db: Any, plane: PlaneConfig, only: str | None = None) -> list[EnvStatus]:
    names = [only] if only else list(plane.environments)
    refs = [db.collection(ENVIRONMENTS).document(n) for n in names]
    snaps = {s.id: s for s in db.get_all(refs)}
    out = []
    for name in names:
        snap = snaps.get(name)
        state = EnvironmentState.model_validate(
            snap.to_dict() if snap is not None and snap.exists else {"name": name}
        )
        rollout = live = None
        if state.lock is not None:
            rollout = read_rollout(db, state.lock.release, name)
        if state.current is not None:
            live = read_rollout(db, state.current.release, name)
        cfg = plane.env(name)
        out.append(
            EnvStatus(
                env=name,
                project=cfg.project,
                state=state,
                in_flight=rollout,
                live=live,
                approval_required=cfg.approval_required,
            )
        )
    return out


def release_artifacts(db: Any, version: str) -> dict[str, str]:
    """The artifacts a release declared at `release.create` ({} for an unknown release)."""
    snap = db.collection(RELEASES).document(version).get()
    data = snap.to_dict() if snap.exists else None
    return {str(k): str(v) for k, v in (data or {}).get("artifacts", {}).items()}


def read_rollout(db: Any, release: str, env: str) -> Rollout | None:
    snap = db.collection(RELEASES).document(release).collection(ROLLOUTS).document(env).get()
    return Rollout.model_validate(snap.to_dict()) if snap.exists else None


def release_view(db: Any, version: str) -> ReleaseView | None:
    ref = db.collection(RELEASES).document(version)
    snap = ref.get()
    if not snap.exists:
        return None
    rollouts = [Rollout.model_validate(s.to_dict()) for s in ref.collection(ROLLOUTS).stream()]
    history = [
        HistoryEntry.model_validate(s.to_dict())
        for s in ref.collection(HISTORY).order_by("seq").stream()
    ]
    return ReleaseView(
        release=Release.model_validate(snap.to_dict()), rollouts=rollouts, history=history
    )


def processed(db: Any, topic: str, event_id: str) -> Processed | None:
    snap = db.collection(PROCESSED).document(doc_id(event_key(topic, event_id))).get()
    return Processed.model_validate(snap.to_dict()) if snap.exists else None


def dead_letters(db: Any, limit: int = 20) -> list[DeadLetter]:
    query = db.collection(DEAD_LETTERS).order_by("receivedAt", direction="DESCENDING").limit(limit)
    return [DeadLetter.model_validate(s.to_dict()) for s in query.stream()]


def trains(db: Any, release: str | None = None, limit: int = 20) -> list[Train]:
    """Mobile trains (`releases/{id}/trains/{platform}`): one release's, or the latest."""
    if release is not None:
        docs = db.collection(RELEASES).document(release).collection(TRAINS).stream()
        return [Train.model_validate(d.to_dict()) for d in docs]
    query = db.collection_group(TRAINS).order_by("updatedAt", direction="DESCENDING").limit(limit)
    return [Train.model_validate(d.to_dict()) for d in query.stream()]


def train_history(db: Any, release: str, platform: str) -> list[TrainEntry]:
    ref = db.collection(RELEASES).document(release).collection(TRAINS).document(platform)
    return [TrainEntry.model_validate(d.to_dict()) for d in ref.collection(HISTORY).stream()]
