"""Read models for `releasectl status` and `history`, straight from Firestore."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel

from shared.adapters.firestore_store import (
    DEAD_LETTERS,
    ENVIRONMENTS,
    HISTORY,
    OPERATIONS,
    PROCESSED,
    RELEASES,
    ROLLOUTS,
    TRACK_LOCKS,
    TRAINS,
    history_id,
)
from shared.config import PlaneConfig
from shared.dead_letters import DeadLetter, doc_id, event_key
from shared.domain import canary
from shared.domain.model import EnvironmentState, HistoryEntry, Release, Rollout
from shared.domain.operations import Operation
from shared.dora.model import MOVES, Change, Move, Report, report
from shared.mobile.model import PLATFORMS, TrackLock, Train, TrainEntry
from shared.service.ports import Processed


class EnvStatus(BaseModel):
    env: str
    project: str
    approval_required: bool
    state: EnvironmentState
    in_flight: Rollout | None = None
    live: Rollout | None = None  # the rollout of the release serving now (`current`)
    canary: dict[str, Any] | None = None  # the in-flight rollout's canary step and split


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
                canary=canary.progress(rollout, state.current.release if state.current else None)
                if rollout is not None
                else None,
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
    """A release, its rollouts and its history, read by document id (the history's ids follow
    the release's `historySeq`; the rollouts' are the envs its history names): no query."""
    ref = db.collection(RELEASES).document(version)
    snap = ref.get()
    if not snap.exists:
        return None
    release = Release.model_validate(snap.to_dict())
    history = _history(db, ref, release.history_seq)
    envs = sorted({h.env for h in history})
    refs = [ref.collection(ROLLOUTS).document(env) for env in envs]
    found = {s.id: s for s in db.get_all(refs)} if refs else {}
    rollouts = [Rollout.model_validate(found[e].to_dict()) for e in envs if found[e].exists]
    return ReleaseView(release=release, rollouts=rollouts, history=history)


def _history(db: Any, release_ref: Any, count: int) -> list[HistoryEntry]:
    refs = [release_ref.collection(HISTORY).document(history_id(n)) for n in range(1, count + 1)]
    snaps = db.get_all(refs) if refs else []
    entries = [HistoryEntry.model_validate(s.to_dict()) for s in snaps if s.exists]
    return sorted(entries, key=lambda e: e.seq)


def processed(db: Any, topic: str, event_id: str) -> Processed | None:
    snap = db.collection(PROCESSED).document(doc_id(event_key(topic, event_id))).get()
    return Processed.model_validate(snap.to_dict()) if snap.exists else None


def operation(db: Any, env: str, key: str) -> Operation | None:
    """A flag change or backup asked for (`environments/{env}/operations/{key}`)."""
    ref = db.collection(ENVIRONMENTS).document(env).collection(OPERATIONS).document(doc_id(key))
    snap = ref.get()
    return Operation.model_validate(snap.to_dict()) if snap.exists else None


def operations(db: Any, env: str, limit: int = 20) -> list[Operation]:
    """The env's latest operations, newest first."""
    query = (
        db.collection(ENVIRONMENTS)
        .document(env)
        .collection(OPERATIONS)
        .order_by("requestedAt", direction="DESCENDING")
        .limit(limit)
    )
    return [Operation.model_validate(s.to_dict()) for s in query.stream()]


def dead_letters(db: Any, limit: int = 20) -> list[DeadLetter]:
    query = db.collection(DEAD_LETTERS).order_by("receivedAt", direction="DESCENDING").limit(limit)
    return [DeadLetter.model_validate(s.to_dict()) for s in query.stream()]


def env_moves(db: Any, env: str, since: datetime, until: datetime | None = None) -> list[Move]:
    """The history moves DORA needs of one environment since `since`, oldest first: one
    collection-group query on (env, at), index in firestore.indexes.json. The moves DORA does
    not use are dropped here: an `in` on `to` runs as one query per value (six times the
    work on the emulator, for a day's worth of moves)."""
    query = (
        db.collection_group(HISTORY)
        .where(filter=FieldFilter("env", "==", env))
        .where(filter=FieldFilter("at", ">=", since))
    )
    if until is not None:
        query = query.where(filter=FieldFilter("at", "<", until))
    moves = []
    for snap in query.order_by("at").stream():
        data = snap.to_dict()
        if data["to"] not in MOVES:
            continue
        release = snap.reference.parent.parent.id  # releases/{id}/history/{seq}
        moves.append(Move(release, int(data["attempt"]), str(data["to"]), data["at"]))
    return moves


def changes(db: Any, versions: set[str]) -> dict[str, Change]:
    """When each release's change was made (its commit time if recorded, else its creation)."""
    refs = [db.collection(RELEASES).document(v) for v in sorted(versions)]
    found = {}
    for snap in db.get_all(refs, field_paths=["version", "branch", "createdAt", "committedAt"]):
        if snap.exists:
            data = snap.to_dict()
            committed = data.get("committedAt")
            when = committed or data["createdAt"]
            branch = str(data.get("branch", ""))
            found[snap.id] = Change(str(data["version"]), branch, when, committed is not None)
    return found


def dora(db: Any, env: str, since: datetime, now: datetime) -> Report:
    """DORA's five figures for one environment over [since, now), with their series."""
    moves, known = settled_moves(db, env, since, now)
    known.update(changes(db, {m.release for m in moves} - set(known)))
    return report(env, moves, known, since, now)


DORA_DAYS = "doraDays"
# History is appended at the time of the move, so a day's moves are final once it is over; an
# hour's margin covers a transaction that read its clock before midnight and committed after.
SETTLED = timedelta(hours=1)
_DAY = timedelta(days=1)


def _midnight(at: datetime) -> datetime:
    return datetime.combine(at.date(), datetime.min.time(), at.tzinfo)


def settled_moves(
    db: Any, env: str, since: datetime, now: datetime
) -> tuple[list[Move], dict[str, Change]]:
    """`env_moves` since `since`, with every settled day kept in one `doraDays/{env}:{date}`
    document (its moves and its releases' change times): a year is one query over 365 small
    documents (index env + day) plus one for the day not settled yet. A missing day is filled
    from the history once (one query over the missing span), then never asked again."""
    first, open_from = _midnight(since), _midnight(now - SETTLED)
    query = (
        db.collection(DORA_DAYS)
        .where(filter=FieldFilter("env", "==", env))
        .where(filter=FieldFilter("day", ">=", first))
        .where(filter=FieldFilter("day", "<", open_from))
    )
    kept = {s.id: s.to_dict() for s in query.stream()}
    days = [first + i * _DAY for i in range(max((open_from - first).days, 0))]
    missing = [d for d in days if _day_id(env, d) not in kept]
    if missing:
        kept.update(_settle(db, env, missing))
    moves = [
        Move(m["release"], int(m["attempt"]), m["to"], m["at"])
        for day in kept.values()
        for m in day.get("moves", [])
    ]
    known = {
        r: Change(c["version"], c["branch"], c["changedAt"], bool(c.get("fromCommit")))
        for day in kept.values()
        for r, c in day.get("changes", {}).items()
    }
    moves += recent_moves(db, env, max(open_from, first))
    return sorted((m for m in moves if m.at >= since), key=lambda m: m.at), known


def recent_moves(db: Any, env: str, since: datetime) -> list[Move]:
    """`env_moves` for a short recent span, found through the rollouts that moved in it (each
    move stamps its rollout's `updatedAt`; index rollouts env + updatedAt) and their releases'
    history read by id: a query over one document per rollout, not one per move."""
    query = (
        db.collection_group(ROLLOUTS)
        .where(filter=FieldFilter("env", "==", env))
        .where(filter=FieldFilter("updatedAt", ">=", since))
    )
    versions = sorted({str(s.to_dict()["release"]) for s in query.stream()})
    refs = [db.collection(RELEASES).document(v) for v in versions]
    moves = []
    for snap in db.get_all(refs) if refs else []:
        if not snap.exists:
            continue
        count = int((snap.to_dict() or {}).get("historySeq", 0))
        for h in _history(db, snap.reference, count):
            if h.env == env and h.at >= since and h.to_state.value in MOVES:
                moves.append(Move(snap.id, h.attempt, h.to_state.value, h.at))
    return moves


def _day_id(env: str, day: datetime) -> str:
    return f"{env}:{day.date().isoformat()}"


def _settle(db: Any, env: str, missing: list[datetime]) -> dict[str, dict[str, Any]]:
    found = env_moves(db, env, missing[0], missing[-1] + _DAY)
    known = changes(db, {m.release for m in found})
    made: dict[str, dict[str, Any]] = {}
    batch, pending = db.batch(), 0
    for day in missing:
        mine = [m for m in found if day <= m.at < day + _DAY]
        made[_day_id(env, day)] = {
            "env": env,
            "day": day,
            "moves": [
                {"release": m.release, "attempt": m.attempt, "to": m.to, "at": m.at} for m in mine
            ],
            "changes": {
                r: {
                    "version": c.version,
                    "branch": c.branch,
                    "changedAt": c.changed_at,
                    "fromCommit": c.from_commit,
                }
                for r in {m.release for m in mine}
                if (c := known.get(r)) is not None
            },
        }
        batch.set(db.collection(DORA_DAYS).document(_day_id(env, day)), made[_day_id(env, day)])
        pending += 1
        if pending == 400:
            batch.commit()
            batch, pending = db.batch(), 0
    if pending:
        batch.commit()
    return made


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


class TrainView(BaseModel):
    train: Train
    history: list[TrainEntry]


def app_trains(db: Any, platform: str, limit: int) -> list[Train]:
    """One app's latest trains, newest first: one collection-group query (platform +
    updatedAt, index in firestore.indexes.json) reading `limit` documents."""
    query = (
        db.collection_group(TRAINS)
        .where(filter=FieldFilter("platform", "==", platform))
        .order_by("updatedAt", direction="DESCENDING")
        .limit(limit)
    )
    return [Train.model_validate(d.to_dict()) for d in query.stream()]


def read_train(db: Any, release: str, platform: str) -> Train | None:
    snap = db.collection(RELEASES).document(release).collection(TRAINS).document(platform).get()
    return Train.model_validate(snap.to_dict()) if snap.exists else None


def track_holders(db: Any, tracks: dict[str, str]) -> dict[str, TrackLock]:
    """Which release holds each app's production track (`mobileTracks/{platform}:{track}`),
    read by id: platform -> lock."""
    refs = [db.collection(TRACK_LOCKS).document(f"{p}:{t}") for p, t in tracks.items()]
    snaps = db.get_all(refs) if refs else []
    locks = [TrackLock.model_validate(s.to_dict()) for s in snaps if s.exists]
    return {lock.platform: lock for lock in locks}


def release_trains(db: Any, version: str, with_history: bool = True) -> list[TrainView]:
    """A release's trains (one per platform) and their history, read by id: the history's ids
    follow each train's `seq`, as a release's do its `historySeq`."""
    release = db.collection(RELEASES).document(version)
    refs = [release.collection(TRAINS).document(p) for p in PLATFORMS]
    out = []
    for snap in db.get_all(refs):
        if not snap.exists:
            continue
        train = Train.model_validate(snap.to_dict())
        history: list[TrainEntry] = []
        if with_history and train.seq:
            lines = [
                snap.reference.collection(HISTORY).document(history_id(n))
                for n in range(1, train.seq + 1)
            ]
            found = [TrainEntry.model_validate(h.to_dict()) for h in db.get_all(lines) if h.exists]
            history = sorted(found, key=lambda e: e.seq)
        out.append(TrainView(train=train, history=history))
    return sorted(out, key=lambda v: PLATFORMS.index(v.train.platform))
