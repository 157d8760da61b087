"""In-memory fakes of the ports. They record what happened; tests assert on that state."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from google.api_core.exceptions import InvalidArgument, NotFound

from shared.adapters.firestore_store import legacy_id
from shared.approvals.handler import SignedCommands
from shared.approvals.tokens import Approver
from shared.backups.model import BackupRecord, RestoreRun
from shared.clock import Clock, utcnow
from shared.config import EnvConfig, PlaneConfig
from shared.dead_letters import DeadLetter, DeliveryFailure, doc_id, event_key
from shared.domain.effects import BreachAlert, ReleaseEvent, StartBuild
from shared.domain.messages import StepReport
from shared.domain.model import (
    Deployed,
    DeployPart,
    Doc,
    EnvironmentState,
    HistoryEntry,
    Release,
    Rollout,
)
from shared.domain.operations import Operation
from shared.domain.roles import ROLES
from shared.entrypoints import decode_build, decode_command, decode_tick, deliver
from shared.errors import Refused
from shared.flags.audit import AuditEntry
from shared.flags.changes import FlagChanges
from shared.flags.guard import FlagRevert
from shared.flags.model import Flag, check_transition, parse_flag
from shared.flags.ports import Change
from shared.mobile.model import StoreView, TrackLock, Train, TrainEntry, phased_fraction
from shared.mobile.ports import StoreRejected
from shared.service.messagebus import MessageBus
from shared.service.ports import OUTBOX_LEASE, Ports, Processed
from tests.builds import attributes, step_build
from tests.pubsub_envelope import envelope

T = TypeVar("T")
D = TypeVar("D", bound=Doc)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


# Firestore's limits as the emulator enforces them (firebase.google.com/docs/firestore/quotas),
# and a document's size as Firestore counts it (firebase.google.com/docs/firestore/storage-size).
MAX_DOCUMENT_BYTES = 1_048_576
MAX_VALUE_BYTES = 1_048_487  # one string or bytes value
MAX_DEPTH = 20  # maps and arrays nested in one field
MAX_FIELD_PATH_BYTES = 1_500  # a field's names from the document down, joined by "."
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
RESERVED_FIELD = re.compile(r"^__.+__$")


def _invalid(message: str) -> InvalidArgument:
    """What the server answers to a document it can never store (HTTP 400)."""
    return InvalidArgument(message)  # type: ignore[no-untyped-call]


def firestore_round_trip(path: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` as Firestore gives it back from document `path` (tuples and sets become lists,
    naive times UTC); raises what the client (`ValueError`, `TypeError`) or the server
    (`InvalidArgument`) raises for a document Firestore can never store."""
    fields, size = _fields(data, depth=0, path=-1)
    name = sum(len(part.encode()) + 1 for part in path.split("/")) + 16
    if name + size + 32 > MAX_DOCUMENT_BYTES:
        raise _invalid(f"maximum entity size is {MAX_DOCUMENT_BYTES} bytes")
    return fields


def _fields(data: Mapping[Any, Any], depth: int, path: int) -> tuple[dict[str, Any], int]:
    """A map's fields and their size; `path`: the length of the map's own field path (-1 for
    the document)."""
    fields: dict[str, Any] = {}
    size = 0
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise ValueError("One or more components is not a string or is empty.")
        if RESERVED_FIELD.match(key):
            raise _invalid(f"field name {key!r} is reserved")
        name = len(key.encode())
        if path + 1 + name > MAX_FIELD_PATH_BYTES:
            raise _invalid(f"a field path is longer than {MAX_FIELD_PATH_BYTES} bytes")
        fields[key], value_size = _value(value, depth, path + 1 + name, in_array=False)
        size += name + 1 + value_size
    return fields, size


def utc(time: datetime) -> datetime:
    """A time as Firestore keeps it: in UTC (a naive time is taken to be UTC)."""
    return time.replace(tzinfo=UTC) if time.tzinfo is None else time.astimezone(UTC)


def _value(value: Any, depth: int, path: int, *, in_array: bool) -> tuple[Any, int]:
    if value is None or isinstance(value, bool):
        return value, 1
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"Value out of range: {value}")
        return int(value), 8
    if isinstance(value, float):
        return float(value), 8
    if isinstance(value, datetime):
        return utc(value), 8
    if isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else bytes(value)
        if len(raw) > MAX_VALUE_BYTES:
            raise _invalid(f"a value is longer than {MAX_VALUE_BYTES} bytes")
        return (str.__str__(value) if isinstance(value, str) else raw), len(raw) + 1
    if not isinstance(value, dict | list | tuple | set | frozenset):
        raise TypeError("Cannot convert to a Firestore Value", value, "Invalid type", type(value))
    if depth + 1 > MAX_DEPTH:
        raise _invalid("a value contains an invalid nested entity")
    if isinstance(value, dict):
        return _fields(value, depth + 1, path)
    if in_array:
        raise _invalid("Cannot convert an array value in an array value.")
    items = [_value(item, depth + 1, path, in_array=True) for item in value]
    return [item for item, _ in items], sum(size for _, size in items)


def stored(path: str, doc: D) -> D:
    """A copy of `doc` as Firestore stores it at `path` (and reads it back)."""
    return type(doc).model_validate(firestore_round_trip(path, doc.to_doc()))


# Where the Firestore adapters keep each document (the paths count towards a document's size).
def release_path(version: str) -> str:
    return f"releases/{version}"


def rollout_path(version: str, env: str) -> str:
    return f"releases/{version}/rollouts/{env}"


def history_path(release: str, seq: int) -> str:
    return f"releases/{release}/history/{seq:06d}"


def environment_path(env: str) -> str:
    return f"environments/{env}"


def processed_path(key: str) -> str:
    return f"processedEvents/{doc_id(key)}"


def letter_path(key: str) -> str:
    return f"deadLetters/{doc_id(key)}"


def failure_path(fingerprint: str) -> str:
    return f"deliveryFailures/{fingerprint}"


@dataclass
class Store:
    """What the fakes hold, as Firestore would: every model in it is its own copy, written as
    Firestore would store it; reads hand out copies."""

    releases: dict[str, Release] = field(default_factory=dict)
    rollouts: dict[tuple[str, str], Rollout] = field(default_factory=dict)
    envs: dict[str, EnvironmentState] = field(default_factory=dict)
    history: dict[str, list[HistoryEntry]] = field(default_factory=dict)  # in `seq` order
    processed: dict[str, Processed] = field(default_factory=dict)
    dead_letters: dict[str, DeadLetter] = field(default_factory=dict)
    failures: dict[str, DeliveryFailure] = field(default_factory=dict)
    deployments: dict[tuple[str, str], tuple[int, dict[str, str]]] = field(default_factory=dict)
    trains: dict[tuple[str, str], Train] = field(default_factory=dict)
    train_history: dict[tuple[str, str], list[TrainEntry]] = field(default_factory=dict)
    track_locks: dict[str, TrackLock] = field(default_factory=dict)
    operations: dict[tuple[str, str], Operation] = field(default_factory=dict)

    def put_train_entry(self, release: str, platform: str, entry: TrainEntry) -> None:
        """`releases/{id}/trains/{platform}/history/{seq:06d}`, like `put_history`."""
        entries = [e for e in self.train_history.get((release, platform), []) if e.seq != entry.seq]
        self.train_history[(release, platform)] = sorted([*entries, entry], key=lambda e: e.seq)

    def put_history(self, release: str, entry: HistoryEntry) -> None:
        """`releases/{id}/history/{seq:06d}`: one entry per `seq` (a second replaces the first),
        read in `seq` order."""
        entries = [e for e in self.history.get(release, []) if e.seq != entry.seq]
        self.history[release] = sorted([*entries, entry], key=lambda e: e.seq)


def _copy(doc: D | None) -> D | None:
    return doc.model_copy(deep=True) if doc is not None else None


@dataclass
class _Write:
    """A write staged in a transaction: the document serialized when it was staged (as the
    adapter does), stored at commit."""

    path: str
    kind: type[Doc]
    data: dict[str, Any]
    apply: Callable[[Any], None]

    def ready(self) -> tuple[Callable[[Any], None], Doc]:
        return self.apply, self.kind.model_validate(firestore_round_trip(self.path, self.data))


class FakeTx:
    """Reads see the store as it was committed (never this transaction's staged writes);
    writes are staged and applied at commit, all or none."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.writes: list[_Write] = []

    def _stage(self, path: str, doc: Doc, apply: Callable[[Any], None]) -> None:
        self.writes.append(_Write(path, type(doc), doc.to_doc(), apply))

    def prefetch(self, topic: str, event_id: str, release: str | None, env: str | None) -> None:
        pass

    def processed(self, topic: str, event_id: str) -> Processed | None:
        key = event_key(topic, event_id)
        found = self.store.processed.get(key)
        old_id = legacy_id(key)  # recorded before ids were per topic, as the adapter reads it
        old = self.store.processed.get(old_id) if old_id is not None else None
        legacy = old if old is not None and old.key == key else None
        return _copy(found or legacy)

    def release(self, version: str) -> Release | None:
        return _copy(self.store.releases.get(version))

    def rollout(self, version: str, env: str) -> Rollout | None:
        return _copy(self.store.rollouts.get((version, env)))

    def deployment(
        self, version: str, env: str, attempt: int, step: str = "deploy"
    ) -> dict[str, str] | None:
        found = self.store.deployments.get((version, env if step == "deploy" else f"{env}:{step}"))
        return (
            {str(k): str(v) for k, v in found[1].items()} if found and found[0] == attempt else None
        )

    def environment(self, env: str) -> EnvironmentState:
        return _copy(self.store.envs.get(env)) or EnvironmentState(name=env)

    def train(self, version: str, platform: str) -> Train | None:
        return _copy(self.store.trains.get((version, platform)))

    def track_lock(self, platform: str, track: str) -> TrackLock | None:
        return _copy(self.store.track_locks.get(f"{platform}:{track}"))

    def operation(self, env: str, key: str) -> Operation | None:
        return _copy(self.store.operations.get((env, key)))

    def put_operation(self, op: Operation) -> None:
        self._stage(
            f"environments/{op.env}/operations/{doc_id(op.id)}",
            op,
            lambda o: self.store.operations.__setitem__((o.env, o.id), o),
        )

    def put_train(self, train: Train) -> None:
        self._stage(
            f"releases/{train.release}/trains/{train.platform}",
            train,
            lambda t: self.store.trains.__setitem__((t.release, t.platform), t),
        )

    def put_track_lock(self, lock: TrackLock) -> None:
        key = f"{lock.platform}:{lock.track}"
        self._stage(
            f"mobileTracks/{key}", lock, lambda k: self.store.track_locks.__setitem__(key, k)
        )

    def add_train_history(self, release: str, platform: str, entry: TrainEntry) -> None:
        self._stage(
            f"releases/{release}/trains/{platform}/history/{entry.seq:06d}",
            entry,
            lambda e: self.store.put_train_entry(release, platform, e),
        )

    def put_release(self, release: Release) -> None:
        self._stage(
            release_path(release.version),
            release,
            lambda r: self.store.releases.__setitem__(r.version, r),
        )

    def put_rollout(self, rollout: Rollout) -> None:
        self._stage(
            rollout_path(rollout.release, rollout.env),
            rollout,
            lambda r: self.store.rollouts.__setitem__((r.release, r.env), r),
        )

    def put_environment(self, env: EnvironmentState) -> None:
        self._stage(
            environment_path(env.name), env, lambda e: self.store.envs.__setitem__(e.name, e)
        )

    def add_history(self, release: str, entry: HistoryEntry) -> None:
        self._stage(
            history_path(release, entry.seq), entry, lambda e: self.store.put_history(release, e)
        )

    def mark_processed(self, record: Processed) -> None:
        self._stage(
            processed_path(record.key),
            record,
            lambda r: self.store.processed.__setitem__(r.key, r),
        )

    def commit(self) -> None:
        """Store every staged write, or (Firestore refusing one) none."""
        ready = [write.ready() for write in self.writes]
        for apply, doc in ready:
            apply(doc)


class FakeUnitOfWork:
    """The unit of work over a `Store`. `clock` is the server's clock (Firestore's
    `SERVER_TIMESTAMP`, which `release_claim` writes): by default the real one."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.store = Store()
        self.clock: Clock = clock or utcnow
        self.transactions = 0
        self.commits = 0
        self.claims = 0

    def atomically(self, work: Callable[[FakeTx], T]) -> T:
        tx = FakeTx(self.store)
        result = work(tx)  # an exception here discards every staged write
        try:
            tx.commit()
        except InvalidArgument as exc:  # as the adapter: writes that can never be committed
            raise Refused(f"Firestore refused this event's writes: {exc.message}") from None
        except (ValueError, TypeError, OverflowError) as exc:  # ... or never encoded
            raise Refused(f"Firestore refused this event's writes: {exc}") from None
        self.transactions += 1
        self.commits += bool(tx.writes)
        return result

    def _stored_key(self, key: str) -> str:
        """Where `key`'s record is: under its key, or (written before ids were per topic, as
        the adapter finds it) under its bare message id."""
        legacy = legacy_id(key)
        if key not in self.store.processed and legacy is not None:
            old = self.store.processed.get(legacy)
            if old is not None and old.key == key:
                return legacy
        return key

    def finish_effects(self, key: str) -> None:
        # the adapter sets `effectsDone` alone: the claim it had stays as it was
        self.store.processed[self._stored_key(key)].effects_done = True

    def claim(self, key: str, now: datetime, until: datetime) -> Processed | None:
        record = self.store.processed.get(self._stored_key(key))
        if record is None or record.effects_done:
            return None
        if record.claimed_until is not None and record.claimed_until > now:
            return None
        record.claimed_until = utc(until)
        self.claims += 1
        return record.model_copy(deep=True, update={"claimed_until": until})

    def release_claim(self, key: str) -> None:
        record = self.store.processed.get(self._stored_key(key))
        if record is None:  # the adapter updates the document, which must exist
            raise NotFound(f"no {processed_path(key)} to release")  # type: ignore[no-untyped-call]
        record.claimed_until = self.clock()  # the adapter writes the server's time: lapsed now

    def refuse(self, record: Processed, letter: DeadLetter) -> None:
        # one batch: both written, or (one can never be stored) neither
        dead, done = (
            stored(letter_path(letter.key), letter),
            stored(processed_path(record.key), record),
        )
        self.store.dead_letters[letter.key] = dead
        self.store.processed[record.key] = done

    def unfinished(self, now: datetime, limit: int) -> list[Processed]:
        left = [
            p
            for p in self.store.processed.values()
            if not p.effects_done and p.claimed_until is not None and p.claimed_until <= now
        ]
        # the adapter's query orders by `claimedUntil`, then (as Firestore does) document id
        left.sort(key=lambda p: (p.claimed_until or now, doc_id(p.key)))
        found = [p.model_copy(deep=True) for p in left[:limit]]
        # ... then, as the adapter, outboxes written before claims existed, oldest first
        unclaimed = sorted(
            (p for p in self.store.processed.values() if not p.effects_done),
            key=lambda p: (p.at, doc_id(p.key)),
        )[: limit - len(found)]
        legacy = [p for p in unclaimed if p.claimed_until is None]
        return found + [p.model_copy(deep=True) for p in legacy if p.at <= now - OUTBOX_LEASE]

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
        doc_id = env if step == "deploy" else f"{env}:{step}"
        path = f"releases/{version}/deployments/{doc_id}"
        doc = {"attempt": attempt, "artifacts": artifacts, "buildId": build_id, "at": self.clock()}
        kept = firestore_round_trip(path, doc)
        self.store.deployments[(version, doc_id)] = (kept["attempt"], kept["artifacts"])

    def read_release(self, version: str) -> Release | None:
        return _copy(self.store.releases.get(version))

    def read_environment(self, env: str) -> EnvironmentState:
        return _copy(self.store.envs.get(env)) or EnvironmentState(name=env)

    def read_rollout(self, version: str, env: str) -> Rollout | None:
        return _copy(self.store.rollouts.get((version, env)))


class FakeDeadLetters:
    """The `DeadLetters` port over a `Store` (the same dict the unit of work refuses into)."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()

    def put(self, letter: DeadLetter) -> None:
        self.store.dead_letters[letter.key] = stored(letter_path(letter.key), letter)

    def note_failure(self, failure: DeliveryFailure) -> None:
        kept = stored(failure_path(failure.fingerprint), failure)
        self.store.failures[failure.fingerprint] = kept

    def last_failure(self, fingerprint: str) -> DeliveryFailure | None:
        return _copy(self.store.failures.get(fingerprint))


class FakeBuilds:
    def __init__(self) -> None:
        self.started: dict[str, StartBuild] = {}
        self.ids: dict[str, str] = {}
        self.calls = 0

    def start(self, request: StartBuild) -> str:
        self.calls += 1
        if request.key not in self.ids:
            self.started[request.key] = request
            self.ids[request.key] = f"build-{len(self.ids) + 1}"
        return self.ids[request.key]


class FakeEvents:
    def __init__(self) -> None:
        self.published: list[ReleaseEvent] = []
        self.alerts: list[BreachAlert] = []
        self.operations: list[Operation] = []

    def publish(self, event: ReleaseEvent) -> None:
        self.published.append(event)

    def alert(self, alert: BreachAlert) -> None:
        self.alerts.append(alert)

    def operation(self, operation: Operation) -> None:
        self.operations.append(operation)


@dataclass
class FakeStep:
    """A gate runner, smoke runner, bake analysis and deploy target in one, scripted by tests."""

    report: StepReport = field(
        default_factory=lambda: StepReport(ran=True, ok=True, summary="all good")
    )
    calls: list[Any] = field(default_factory=list)
    urls: list[str | None] = field(default_factory=list)  # smoke: the URL asked for, if any
    # what `watch` (a live release) finds: by default nothing to judge
    live_report: StepReport = field(
        default_factory=lambda: StepReport(ran=False, ok=False, summary="no live metrics")
    )
    watched: list[Any] = field(default_factory=list)
    # traffic splits asked of the deploy target: (env, percent, stable release)
    splits: list[Any] = field(default_factory=list)
    split_report: StepReport = field(
        default_factory=lambda: StepReport(ran=True, ok=True, summary="split set")
    )
    parts: list[str] = field(default_factory=list)  # what each deploy deployed (DeployPart)

    def run(self, release: Release, env: EnvConfig, base_url: str | None = None) -> StepReport:
        self.calls.append((release.version, env.name))
        self.urls.append(base_url)
        return self.report

    def evaluate(
        self, rollout: Rollout, env: EnvConfig, now: datetime, stable: str | None = None
    ) -> StepReport:
        self.calls.append((rollout.release, env.name))
        return self.report

    def watch(
        self, rollout: Rollout, env: EnvConfig, serving_since: datetime, now: datetime
    ) -> StepReport:
        self.watched.append((rollout.release, env.name, serving_since))
        return self.live_report

    def deploy(self, release: str, env: EnvConfig, part: DeployPart = "all") -> dict[str, str]:
        self.calls.append((release, env.name))
        self.parts.append(part)
        return {"app": release} if part != "rest" else {"hosting:site": f"{release}/hosting"}

    def restore(self, target: Deployed, env: EnvConfig) -> StepReport:
        self.calls.append((target.release, env.name))
        return self.report

    def split(
        self, canary: dict[str, str], stable: Deployed | None, percent: int, env: EnvConfig
    ) -> StepReport:
        self.splits.append((env.name, percent, stable.release if stable else None))
        return self.split_report


class FakeReleaseFlags:
    """Flags in memory per env: `flags[env][flag] = percent`; records what it turned on."""

    def __init__(self) -> None:
        self.flags: dict[str, dict[str, float]] = {}

    def turn_on(self, release: str, env: EnvConfig, spec: str) -> list[dict[str, Any]]:
        from shared.flags.releases import parse_requirements

        changes = []
        for req in parse_requirements(spec):
            before = self.flags.setdefault(env.name, {}).get(req.flag)
            if before != req.rollout_percent:
                self.flags[env.name][req.flag] = req.rollout_percent
                changes.append(
                    {
                        "flag": req.flag,
                        "release": release,
                        "before": before,
                        "after": req.rollout_percent,
                    }
                )
        return changes

    def turn_off(
        self, release: str, env: EnvConfig, applied: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        undone = []
        for change in applied:
            now = self.flags.get(env.name, {}).get(change["flag"])
            if now == change["after"]:  # nobody changed it since the release did
                self.flags[env.name][change["flag"]] = change["before"] or 0.0
                undone.append({**change, "before": now, "after": change["before"]})
        return undone


class FakeBackups:
    """Backups taken (env, trigger, release) and restored (id, env, collections); `fail` makes
    the next ones fail with it. With `managed`, a backup runs on (a managed export) until
    `exports` says how it ended: "done", or why it failed; `settle` then delivers it (and
    hands one still running to `still`). A restore runs on likewise until `imports` says."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, str, str | None]] = []
        self.by: list[str | None] = []
        self.records: dict[str, BackupRecord] = {}
        self.restored: list[tuple[str, str, list[str]]] = []
        self.fail: str | None = None
        self.managed = False
        self.exports: str | None = None  # None: still running
        self.imports: str | None = None  # None: still running
        self.polls = 0

    def take(
        self,
        env: EnvConfig,
        trigger: Any,
        release: str | None,
        by: str | None = None,
        *,
        attempt: int | None = None,
        for_operation: str | None = None,
    ) -> BackupRecord:
        if self.fail is not None:
            raise RuntimeError(self.fail)
        self.taken.append((env.name, trigger, release))
        self.by.append(by)
        n = len(self.taken)
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
        record = BackupRecord(
            id=f"{env.name}-{n}",
            env=env.name,
            project=env.project,
            kind="managed-export" if self.managed else "document-dump",
            location=f"/backups/{env.name}/{n}",
            started_at=at,
            finished_at=None if self.managed else at,
            collections=["featureFlags", "users"],
            documents=None if self.managed else 3,
            trigger=trigger,
            release=release,
            by=by,
            lro=f"projects/{env.project}/databases/(default)/operations/op-{n}"
            if self.managed
            else None,
            attempt=attempt,
            for_operation=for_operation,
        )
        self.records[record.id] = record
        return record

    def settle(
        self,
        env: EnvConfig,
        deliver: Callable[[BackupRecord], None],
        still: Callable[[BackupRecord], None] | None = None,
    ) -> int:
        self.polls += 1
        ended = 0
        for record in list(self.records.values()):
            if record.env != env.name:
                continue
            if record.restoring is not None and self.imports is not None:
                at = record.restoring.started_at + timedelta(minutes=30)
                end = {"finished_at": at} if self.imports == "done" else {"error": self.imports}
                deliver(
                    record.model_copy(update={"restoring": record.restoring.model_copy(update=end)})
                )
                self.records[record.id] = record.model_copy(update={"restoring": None})
                ended += 1
            if not record.running:
                continue
            if self.exports is None:
                if still is not None:
                    still(record)
                continue
            at = record.started_at + timedelta(minutes=30)
            done = (
                record.model_copy(update={"finished_at": at})
                if self.exports == "done"
                else record.model_copy(update={"error": self.exports})
            )
            deliver(done)
            self.records[record.id] = done
            ended += 1
        return ended

    def restore(
        self,
        backup: str,
        env: EnvConfig,
        *,
        force: bool,
        include_protected: bool,
        for_operation: str | None = None,
    ) -> tuple[BackupRecord, list[str], int | None]:
        record = self.records.get(backup)
        if record is None:
            raise Refused(f"no backup {backup!r}")
        if record.env != env.name:
            raise Refused(f"backup {backup} is of {record.env}, not {env.name}")
        kept = [c for c in record.collections if include_protected or c != "users"]
        run = record.restoring
        if run is not None and run.operation == for_operation:  # carried out again
            return record, run.collections, None
        self.restored.append((backup, env.name, kept))
        if not self.managed:
            return record, kept, 3
        run = RestoreRun(
            operation=for_operation,
            lro=f"projects/{env.project}/databases/(default)/operations/import-{len(self.restored)}",
            collections=kept,
            started_at=datetime(2026, 1, 2, tzinfo=UTC),
        )
        record = record.model_copy(update={"restoring": run})
        self.records[backup] = record
        return record, kept, None


class FakeFlagStore:
    """One env project's `featureFlags`, as `FirestoreFlagStore` keeps it: `change` reads,
    applies, validates and writes at once (or, raising, writes nothing)."""

    def __init__(self, docs: dict[str, dict[str, Any]] | None = None) -> None:
        self.docs: dict[str, dict[str, Any]] = dict(docs or {})
        self.writes: list[tuple[str, str]] = []  # (flag, updatedBy)

    def all_docs(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.docs.items()}

    def get_doc(self, flag: str) -> dict[str, Any] | None:
        doc = self.docs.get(flag)
        return dict(doc) if doc is not None else None

    def audit_entry(self, flag: str, audit_id: str) -> AuditEntry | None:
        return None

    def audit_log(self, flag: str, limit: int) -> list[AuditEntry]:
        return []

    def record(self, entry: AuditEntry, restore: FlagRevert | None) -> AuditEntry:
        return entry

    def note_versions(self, flag: str, audit_id: str, versions: dict[str, int]) -> None:
        return None

    def change(self, flag: str, change: Change, actor: str, now: datetime) -> Flag:
        doc = self.docs.get(flag)
        current = parse_flag(flag, doc) if doc is not None else None
        changed = change(current).model_copy(update={"updated_by": actor, "updated_at": now})
        new = parse_flag(flag, changed.to_doc())
        check_transition(flag, current, new)
        self.docs[flag] = new.to_doc()
        self.writes.append((flag, actor))
        return new


class FakeLedger:
    """The migrations each release applied, per env: `applied[(release, env)] = versions`."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], list[str]] = {}

    def applied(self, release: str, env: EnvConfig) -> dict[str, Any]:
        versions = self.versions.get((release, env.name), [])
        return {"versions": versions, "schemaVersion": versions[-1] if versions else None}


class FakeTicks:
    """The tick fan-out, delivered at once to `bus` the way Pub/Sub would, each its own id."""

    def __init__(self) -> None:
        self.bus: MessageBus | None = None
        self.sent: list[str] = []
        self.failed: dict[str, Exception] = {}  # Pub/Sub would redeliver these

    def publish(self, env: str) -> None:
        self.sent.append(env)
        if self.bus is not None:
            body = envelope(json.dumps({"env": env}).encode())
            event_id = f"tick-{len(self.sent)}-{env}"
            try:
                deliver(self.bus, event_id, body, topic="monitoring-ticks", decode=decode_tick)
            except Exception as exc:
                self.failed[env] = exc


class FakeVerifier:
    """ID tokens are `token-of:<uid or email>[|role,role]` (every role when none are named);
    anything else is refused like a bad JWT."""

    @staticmethod
    def token_of(who: str, *roles: str) -> str:
        return f"token-of:{who}" + (f"|{','.join(roles)}" if roles else "")

    def verify(self, id_token: str) -> Approver:
        if not id_token.startswith("token-of:"):
            raise Refused("ID token rejected: not a Firebase ID token")
        who, sep, named = id_token.removeprefix("token-of:").partition("|")
        roles = frozenset(r for r in named.split(",") if r) if sep else frozenset(ROLES)
        email = who if "@" in who else None
        return Approver(
            uid=who, email=email, email_verified=True, verified_by="firebase", roles=roles
        )


def unsigned(plane: PlaneConfig) -> PlaneConfig:
    """`plane` with `signed_commands = false` (approvals are still signed)."""
    control = plane.control.model_copy(update={"signed_commands": False})
    return plane.model_copy(update={"control": control})


@dataclass
class World:
    bus: MessageBus
    uow: FakeUnitOfWork
    clock: FakeClock
    builds: FakeBuilds
    events: FakeEvents
    gates: FakeStep
    smoke: FakeStep
    bake: FakeStep
    deploy_target: FakeStep
    flags: FakeReleaseFlags
    flag_store: FakeFlagStore = field(default_factory=FakeFlagStore)  # every env's, in one
    backups: FakeBackups = field(default_factory=FakeBackups)


def fake_ports(plane: PlaneConfig | None = None) -> Ports:
    """Ports for a bus driven by direct `handle` calls: commands need no signature unless
    `plane` asks for them (approvals are signed still)."""
    from shared.config import load_config

    checks = plane if plane is not None else unsigned(load_config())
    return Ports(
        builds=FakeBuilds(),
        events=FakeEvents(),
        gates=FakeStep(),
        smoke=FakeStep(),
        bake=FakeStep(),
        deploy_target=FakeStep(),
        flags=FakeReleaseFlags(),
        approvals=SignedCommands(FakeVerifier, plane=checks),
        ticks=FakeTicks(),
        migrations=FakeLedger(),
        letters=FakeDeadLetters(),
        backups=FakeBackups(),
        flag_changes=FlagChanges(lambda project: FakeFlagStore()),
    )


def make_world(plane: PlaneConfig) -> World:
    clock, builds, events = FakeClock(), FakeBuilds(), FakeEvents()
    uow = FakeUnitOfWork(clock)  # the store's clock is the world's
    gates, smoke, bake, target = FakeStep(), FakeStep(), FakeStep(), FakeStep()
    flags, ticks = FakeReleaseFlags(), FakeTicks()
    flag_store, backups = FakeFlagStore(), FakeBackups()
    ports = Ports(
        builds=builds,
        events=events,
        gates=gates,
        smoke=smoke,
        bake=bake,
        deploy_target=target,
        flags=flags,
        approvals=SignedCommands(FakeVerifier, plane=plane),
        ticks=ticks,
        migrations=FakeLedger(),
        letters=FakeDeadLetters(uow.store),
        backups=backups,
        flag_changes=FlagChanges(lambda project: flag_store, clock),
    )
    bus = MessageBus(uow=uow, plane=plane, clock=clock, ports=ports)
    ticks.bus = bus
    return World(
        bus, uow, clock, builds, events, gates, smoke, bake, target, flags, flag_store, backups
    )


class Driver:
    """Sends messages to a `World` the way the function targets do (envelope and all)."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.n = 0

    def next_id(self) -> str:
        self.n += 1
        return f"evt-{self.n}"

    def command(self, event_id: str | None = None, sign: bool = True, **payload: Any) -> Processed:
        """Send a command signed as its sender (`actor`, `approver`, or a release's `author`)
        holding every role, the way `releasectl` does (`sign=False` sends it unsigned)."""
        if sign and "id_token" not in payload:
            who = payload.get("actor") or payload.get("approver") or payload.get("author")
            payload["id_token"] = FakeVerifier.token_of(str(who))
        data = envelope(json.dumps(payload).encode())
        return deliver(
            self.w.bus,
            event_id or self.next_id(),
            data,
            topic="release-commands",
            decode=decode_command,
        )

    def build(self, data: bytes, event_id: str | None = None) -> Processed:
        return deliver(
            self.w.bus,
            event_id or self.next_id(),
            envelope(data, attributes(data)),
            topic="cloud-builds",
            decode=decode_build,
        )

    def step(self, key: str, status: str, event_id: str | None = None) -> Processed:
        request = self.w.builds.started[key]
        return self.build(step_build(request, status, self.w.builds.ids[key]), event_id)

    def tick(self, env: str | None = None) -> Processed:
        body = json.dumps({"env": env} if env else {}).encode()
        return deliver(
            self.w.bus, self.next_id(), envelope(body), topic="monitoring-ticks", decode=decode_tick
        )

    def rollout(self, release: str, env: str) -> Rollout:
        return self.w.uow.store.rollouts[(release, env)]

    def env(self, name: str) -> EnvironmentState:
        return self.w.uow.read_environment(name)


class FakePlay:
    """The Play tracks as the fake store holds them; `refuse` makes the next calls a 4xx."""

    def __init__(self) -> None:
        self.held: dict[str, dict[str, object]] = {}
        self.calls = 0
        self.refuse: str | None = None

    def set_release(
        self, track: str, version_code: int, status: str, fraction: float | None, name: str
    ) -> StoreView:
        self.calls += 1
        if self.refuse:
            raise StoreRejected(f"Play: {self.refuse}")
        release: dict[str, object] = {"versionCodes": [str(version_code)], "status": status}
        if fraction is not None:
            release["userFraction"] = fraction
        self.held[track] = release
        return StoreView(track=track, status=status, fraction=fraction)

    def tracks(self) -> dict[str, list[dict[str, object]]]:
        return {name: [release] for name, release in self.held.items()}


class FakeAppStore:
    """App Store Connect as the fake holds it: groups, review state, phased release (its day
    moved by the test, as Apple moves it)."""

    def __init__(self) -> None:
        self.groups: dict[str, set[int]] = {}
        self.state: dict[int, str] = {}
        self.phase: dict[int, str] = {}
        self.day: dict[int, int] = {}
        self.calls = 0
        self.reads = 0

    def add_to_group(self, build: int, group: str) -> StoreView:
        self.calls += 1
        self.groups.setdefault(group, set()).add(build)
        return StoreView(track="testflight", status="TESTFLIGHT")

    def submit(self, build: int, version: str) -> StoreView:
        self.calls += 1
        self.state[build] = "WAITING_FOR_REVIEW"
        return StoreView(track="review", status="WAITING_FOR_REVIEW", ids={"version": f"v{build}"})

    def release(self, build: int) -> StoreView:
        self.calls += 1
        if self.state.get(build) != "PENDING_DEVELOPER_RELEASE":
            raise StoreRejected("App Store Connect: the version is not approved by review yet")
        self.phase[build], self.day[build] = "ACTIVE", 1
        return self._view(build).model_copy(update={"ids": {"phasedRelease": "p1"}})

    def set_phase(self, build: int, state: str) -> StoreView:
        self.calls += 1
        self.phase[build] = state
        return self._view(build)

    def phased_release(self, version_id: str) -> StoreView | None:
        self.reads += 1
        build = int(version_id.removeprefix("v"))
        return self._view(build) if build in self.phase else None

    def _view(self, build: int) -> StoreView:
        state, day = self.phase[build], self.day.get(build)
        fraction = phased_fraction(state, day)
        return StoreView(track="appstore", status=state, day=day, fraction=fraction)

    def status(self, build: int) -> StoreView:
        return StoreView(status=self.phase.get(build))
