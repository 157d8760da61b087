"""Release state in Firestore: the unit of work and the transaction view (docs/ARCHITECTURE.md).

Layout: `releases/{id}`, `releases/{id}/rollouts/{env}`, `releases/{id}/history/{seq}`,
`environments/{env}` (+ `/operations/{topic}:{eventId}`: flag changes and backups asked for),
`processedEvents/{topic}:{eventId}` (with the outbox),
`deadLetters/{topic}:{eventId}`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from google.api_core.exceptions import Aborted, InvalidArgument
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from shared.adapters.dead_letters import DEAD_LETTERS, letter_ref
from shared.adapters.lazy_transaction import LazyTransaction, attempts
from shared.dead_letters import DeadLetter, bare, doc_id, event_key
from shared.domain.model import EnvironmentState, HistoryEntry, Release, Rollout
from shared.domain.operations import Operation
from shared.errors import Refused
from shared.mobile.model import TrackLock, Train, TrainEntry
from shared.service.ports import OUTBOX_LEASE, Processed
from shared.topics import ALL_TOPICS

T = TypeVar("T")
RELEASES, ROLLOUTS, HISTORY = "releases", "rollouts", "history"
# releases/{id}/deployments/{env}: written by the deploy build, read when it succeeds (the
# finish build after a canary writes its own, `{env}:finish`)
DEPLOYMENTS = "deployments"
ENVIRONMENTS, PROCESSED = "environments", "processedEvents"
# releases/{id}/trains/{platform} (+ /history/{seq}); mobileTracks/{platform}:{track}
TRAINS, TRACK_LOCKS = "trains", "mobileTracks"
OPERATIONS = "operations"  # environments/{env}/operations/{topic}:{eventId}
__all__ = ["DEAD_LETTERS", "ENVIRONMENTS", "PROCESSED", "FirestoreUnitOfWork"]
# Contention on one environment's lock is normal (concurrent promotions); retry generously.
MAX_ATTEMPTS = 30
# The backoff's cap outlasts one conflict: the emulator settles a deadlock between two
# committing readers by a 2 s lock timeout, and with a shorter cap the losers, all waking
# within a second, collide again (ten racing promotions then took up to 73 s, past 30 tries).
MAX_BACKOFF_S = 4.0


def legacy_id(key: str) -> str | None:
    """The document id a Pub/Sub event was recorded under before ids were per topic (its bare
    message id); None for ids that were never stored that way (follow-ups)."""
    topic, sep, event_id = key.partition(":")
    return event_id if sep and topic in ALL_TOPICS and "/" not in event_id else None


def history_id(seq: int) -> str:
    return f"{seq:06d}"  # zero-padded so document order is history order


class _Refs:
    def __init__(self, db: firestore.Client) -> None:
        self.db = db

    def release(self, version: str) -> Any:
        return self.db.collection(RELEASES).document(version)

    def rollout(self, version: str, env: str) -> Any:
        return self.release(version).collection(ROLLOUTS).document(env)

    def deployment(self, version: str, env: str, step: str = "deploy") -> Any:
        doc = env if step == "deploy" else f"{env}:{step}"
        return self.release(version).collection(DEPLOYMENTS).document(doc)

    def env(self, env: str) -> Any:
        return self.db.collection(ENVIRONMENTS).document(env)

    def train(self, version: str, platform: str) -> Any:
        return self.release(version).collection(TRAINS).document(platform)

    def operation(self, env: str, key: str) -> Any:
        return self.env(env).collection(OPERATIONS).document(doc_id(key))

    def track_lock(self, platform: str, track: str) -> Any:
        return self.db.collection(TRACK_LOCKS).document(f"{platform}:{track}")

    def processed(self, key: str) -> Any:
        return self.db.collection(PROCESSED).document(doc_id(key))

    def legacy(self, key: str) -> Any | None:
        """Where the event was recorded before ids were per topic (by its message id alone)."""
        old = legacy_id(key)
        return None if old is None else self.processed(old)


class FirestoreTx:
    """Reads go through the transaction (and a cache); writes are staged and set on flush."""

    def __init__(self, refs: _Refs, transaction: LazyTransaction) -> None:
        self._refs, self._tx = refs, transaction
        self._snaps: dict[str, dict[str, Any] | None] = {}
        self._writes: list[tuple[Any, dict[str, Any]]] = []

    def _read(self, ref: Any) -> dict[str, Any] | None:
        if ref.path not in self._snaps:
            self._load([ref])
        return self._snaps[ref.path]

    def _load(self, refs: list[Any]) -> None:
        self._snaps.update(self._tx.read(refs))

    def prefetch(self, topic: str, event_id: str, release: str | None, env: str | None) -> None:
        key = event_key(topic, event_id)
        refs = [self._refs.processed(key)]
        legacy = self._refs.legacy(key)
        if legacy is not None:
            refs.append(legacy)
        if release:
            refs.append(self._refs.release(release))
        if env:
            refs.append(self._refs.env(env))
        if release and env:
            refs.append(self._refs.rollout(release, env))
        self._load([r for r in refs if r.path not in self._snaps])

    def processed(self, topic: str, event_id: str) -> Processed | None:
        key = event_key(topic, event_id)
        data = self._read(self._refs.processed(key))
        legacy = self._refs.legacy(key)
        if data is None and legacy is not None:
            old = self._read(legacy)
            data = old if old and old.get("topic") == topic else None
        return Processed.model_validate(data) if data else None

    def release(self, version: str) -> Release | None:
        data = self._read(self._refs.release(version))
        return Release.model_validate(data) if data else None

    def rollout(self, version: str, env: str) -> Rollout | None:
        data = self._read(self._refs.rollout(version, env))
        return Rollout.model_validate(data) if data else None

    def deployment(
        self, version: str, env: str, attempt: int, step: str = "deploy"
    ) -> dict[str, str] | None:
        data = self._read(self._refs.deployment(version, env, step))
        if not data or data.get("attempt") != attempt:
            return None
        return {str(k): str(v) for k, v in data.get("artifacts", {}).items()}

    def environment(self, env: str) -> EnvironmentState:
        data = self._read(self._refs.env(env))
        return EnvironmentState.model_validate(data or {"name": env})

    def train(self, version: str, platform: str) -> Train | None:
        data = self._read(self._refs.train(version, platform))
        return Train.model_validate(data) if data else None

    def track_lock(self, platform: str, track: str) -> TrackLock | None:
        data = self._read(self._refs.track_lock(platform, track))
        return TrackLock.model_validate(data) if data else None

    def operation(self, env: str, key: str) -> Operation | None:
        data = self._read(self._refs.operation(env, key))
        return Operation.model_validate(data) if data else None

    def put_operation(self, op: Operation) -> None:
        self._writes.append((self._refs.operation(op.env, op.id), op.to_doc()))

    def put_train(self, train: Train) -> None:
        self._writes.append((self._refs.train(train.release, train.platform), train.to_doc()))

    def put_track_lock(self, lock: TrackLock) -> None:
        self._writes.append((self._refs.track_lock(lock.platform, lock.track), lock.to_doc()))

    def add_train_history(self, release: str, platform: str, entry: TrainEntry) -> None:
        train = self._refs.train(release, platform)
        ref = train.collection(HISTORY).document(history_id(entry.seq))
        self._writes.append((ref, entry.to_doc()))

    def put_release(self, release: Release) -> None:
        self._writes.append((self._refs.release(release.version), release.to_doc()))

    def put_rollout(self, rollout: Rollout) -> None:
        self._writes.append((self._refs.rollout(rollout.release, rollout.env), rollout.to_doc()))

    def put_environment(self, env: EnvironmentState) -> None:
        self._writes.append((self._refs.env(env.name), env.to_doc()))

    def add_history(self, release: str, entry: HistoryEntry) -> None:
        ref = self._refs.release(release).collection(HISTORY).document(history_id(entry.seq))
        self._writes.append((ref, entry.to_doc()))

    def mark_processed(self, record: Processed) -> None:
        self._writes.append((self._refs.processed(record.key), record.to_doc()))

    def flush(self) -> None:
        """Stage the writes on the transaction."""
        for ref, data in self._writes:
            try:
                self._tx.set(ref, data)
            except (ValueError, TypeError, OverflowError) as exc:
                # a value the client cannot encode (an integer beyond int64, a non-string
                # key): no retry can ever store it
                raise Refused(f"Firestore refused this event's writes: {exc}") from None


class FirestoreUnitOfWork:
    def __init__(self, db: firestore.Client) -> None:
        self._refs = _Refs(db)
        self.db = db
        self._stored_at: dict[str, Any] = {}  # key -> a legacy document a claim found it in
        self._legacy_drained = False

    def atomically(self, work: Callable[[FirestoreTx], T]) -> T:
        def run(transaction: LazyTransaction) -> T:
            view = FirestoreTx(self._refs, transaction)
            result = work(view)
            view.flush()
            return result

        try:
            result: T = self._retrying(attempts(self.db, run))
        except InvalidArgument as exc:
            # the writes can never be committed (a value over Firestore's limits): retrying
            # the event would loop, and nothing was written
            raise Refused(f"Firestore refused this event's writes: {exc.message}") from None
        return result

    @staticmethod
    def _retrying(attempt: Callable[[], T]) -> T:
        # An aborted transaction (contention: ten promotions racing for one environment's
        # lock) is retried with jittered exponential backoff, which lets one win; retrying
        # at once, as the client library does, livelocks.
        retrying = Retrying(
            retry=retry_if_exception_type(Aborted),
            wait=wait_random_exponential(multiplier=0.02, max=MAX_BACKOFF_S),
            stop=stop_after_attempt(MAX_ATTEMPTS),
            reraise=True,
        )
        return retrying(attempt)

    def finish_effects(self, key: str) -> None:
        # no precondition: the record exists (its outbox was just carried out), and a blind
        # write is the cheapest commit there is
        self._ref(key).set({"effectsDone": True}, merge=True)

    def claim(self, key: str, now: datetime, until: datetime) -> Processed | None:
        legacy = self._refs.legacy(key)
        refs = [self._refs.processed(key), *([legacy] if legacy is not None else [])]

        def take(transaction: LazyTransaction) -> Processed | None:
            docs = transaction.read(refs)
            found = [
                (ref, Processed.model_validate(data))
                for ref in refs
                if (data := docs.get(ref.path)) is not None
            ]
            mine = [(ref, r) for ref, r in found if r.key == key]  # not another topic's id
            if not mine:
                return None
            ref, record = mine[0]
            if record.effects_done:
                return None
            if record.claimed_until is not None and record.claimed_until > now:
                return None
            transaction.update(ref, {"claimedUntil": until})
            self._stored_at[key] = ref
            return record.model_copy(update={"claimed_until": until})

        taken: Processed | None = self._retrying(attempts(self.db, take))
        return taken

    def release_claim(self, key: str) -> None:
        self._ref(key).update({"claimedUntil": firestore.SERVER_TIMESTAMP})

    def _ref(self, key: str) -> Any:
        """Where the record of `key` is: its own document, or the one a claim found it in
        (a record written before ids were per topic)."""
        return self._stored_at.pop(key, None) or self._refs.processed(key)

    def refuse(self, record: Processed, letter: DeadLetter) -> None:
        try:
            self._refuse(record, letter)
        except InvalidArgument:
            self._refuse(record, bare(letter))

    def _refuse(self, record: Processed, letter: DeadLetter) -> None:
        batch = self.db.batch()
        batch.set(letter_ref(self.db, letter), letter.to_doc())
        batch.set(self._refs.processed(record.key), record.to_doc())
        batch.commit()

    def unfinished(self, now: datetime, limit: int) -> list[Processed]:
        # index: processedEvents (effectsDone, claimedUntil) in firestore.indexes.json
        unfinished = self.db.collection(PROCESSED).where(
            filter=FieldFilter("effectsDone", "==", False)
        )
        lapsed = unfinished.where(filter=FieldFilter("claimedUntil", "<=", now))
        found = [
            Processed.model_validate(s.to_dict())
            for s in lapsed.order_by("claimedUntil").limit(limit).stream()
        ]
        if len(found) < limit and not self._legacy_drained:
            found += self._unclaimed(unfinished, now - OUTBOX_LEASE, limit - len(found))
        return found

    def _unclaimed(self, unfinished: Any, before: datetime, limit: int) -> list[Processed]:
        """Outboxes written before claims existed (no `claimedUntil`, so the sweep's query
        cannot see them). They are the oldest, so once a page of the oldest unfinished
        outboxes holds none, none is left and this instance stops looking."""
        # index: processedEvents (effectsDone, at) in firestore.indexes.json
        oldest = [
            Processed.model_validate(s.to_dict())
            for s in unfinished.order_by("at").limit(limit).stream()
        ]
        legacy = [r for r in oldest if r.claimed_until is None]
        self._legacy_drained = not legacy
        return [r for r in legacy if r.at <= before]

    def record_deployment(
        self,
        version: str,
        env: str,
        attempt: int,
        artifacts: dict[str, str],
        build_id: str,
        *,
        step: str = "deploy",
    ) -> None:
        self._refs.deployment(version, env, step).set(
            {
                "attempt": attempt,
                "artifacts": artifacts,
                "buildId": build_id,
                "at": firestore.SERVER_TIMESTAMP,
            }
        )

    def read_release(self, version: str) -> Release | None:
        snap = self._refs.release(version).get()
        return Release.model_validate(snap.to_dict()) if snap.exists else None

    def read_environment(self, env: str) -> EnvironmentState:
        snap = self._refs.env(env).get()
        return EnvironmentState.model_validate(snap.to_dict() if snap.exists else {"name": env})

    def read_rollout(self, version: str, env: str) -> Rollout | None:
        snap = self._refs.rollout(version, env).get()
        return Rollout.model_validate(snap.to_dict()) if snap.exists else None
