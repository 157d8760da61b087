"""The `UnitOfWork` and `Tx` contract: the same cases against `FakeUnitOfWork` and
`FirestoreUnitOfWork` (on the emulator)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.api_core.exceptions import NotFound

from shared.clock import utcnow
from shared.dead_letters import INTERNAL, DeadLetter, doc_id, letter
from shared.domain.effects import PublishEvent, ReleaseEvent, Restore, SetFlags, StartBuild
from shared.domain.model import (
    Deployed,
    EnvironmentState,
    Freeze,
    HistoryEntry,
    LastMove,
    Lock,
    Release,
    Rollout,
    StepRecord,
)
from shared.domain.states import State
from shared.errors import Refused
from shared.service.ports import Processed, Tx, UnitOfWork
from tests.unit.fakes import FakeUnitOfWork

T0 = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
V, ENV, TOPIC = "1.2.0", "staging", "release-commands"
MINUTE = timedelta(minutes=1)


@dataclass
class Subject:
    """A unit of work and what the port cannot say: the history, the letters, the commits."""

    uow: UnitOfWork
    history: Callable[[str], list[HistoryEntry]]
    letter: Callable[[str], DeadLetter | None]
    seed_legacy: Callable[[Processed], None]  # a record under its bare event id (before topics)
    commits: Callable[[], int]  # transactions committed (a rolled back one is not)


def _fake() -> Subject:
    uow = FakeUnitOfWork()
    store = uow.store

    def seed_legacy(record: Processed) -> None:
        store.processed[record.event_id] = record.model_copy(deep=True)

    return Subject(
        uow=uow,
        history=lambda release: list(store.history.get(release, [])),
        letter=lambda key: store.dead_letters.get(key),
        seed_legacy=seed_legacy,
        commits=lambda: uow.commits,
    )


def _firestore(db: Any, monkeypatch: pytest.MonkeyPatch) -> Subject:
    from shared.adapters.firestore_store import FirestoreUnitOfWork
    from shared.adapters.lazy_transaction import LazyTransaction

    commits = [0]
    commit = LazyTransaction.commit

    def counted(self: LazyTransaction) -> None:
        commit(self)
        commits[0] += 1

    monkeypatch.setattr(LazyTransaction, "commit", counted)

    def history(release: str) -> list[HistoryEntry]:
        docs = db.collection("releases").document(release).collection("history").stream()
        return [HistoryEntry.model_validate(d.to_dict()) for d in docs]  # in document id order

    def read_letter(key: str) -> DeadLetter | None:
        snap = db.collection("deadLetters").document(doc_id(key)).get()
        return DeadLetter.model_validate(snap.to_dict()) if snap.exists else None

    def seed_legacy(record: Processed) -> None:
        doc = record.to_doc()
        if doc["claimedUntil"] is None:
            del doc["claimedUntil"]  # records from before claims have no such field
        db.collection("processedEvents").document(doc_id(record.event_id)).set(doc)

    return Subject(
        uow=FirestoreUnitOfWork(db),
        history=history,
        letter=read_letter,
        seed_legacy=seed_legacy,
        commits=lambda: commits[0],
    )


@pytest.fixture
def s(backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Subject:
    if backend == "fake":
        return _fake()
    return _firestore(request.getfixturevalue("firestore_db"), monkeypatch)


# -- documents ---------------------------------------------------------------------------------


def a_release(version: str = V, **changes: Any) -> Release:
    release = Release(
        version=version,
        commit="ab" * 20,
        branch="release/1.2.0",
        author="al",
        created_at=T0,
        artifacts={"web": "gs://bucket/web-1.2.0.tgz", "functions": "sha256:00ff"},
        history_seq=2,
    )
    return release.model_copy(update=changes)


def a_rollout(version: str = V, env: str = ENV, **changes: Any) -> Rollout:
    rollout = Rollout(
        release=version,
        env=env,
        state=State.BAKING,
        attempt=2,
        actor="bob",
        created_at=T0,
        updated_at=T0 + MINUTE,
        state_since=T0 + MINUTE,
        reason=None,
        steps={
            "gates": StepRecord(
                status="passed",
                started_at=T0,
                finished_at=T0 + timedelta(seconds=3),
                detail={"checks": [{"name": "secrets", "ok": True}], "score": 0.5, "none": None},
            ),
            "deploy": StepRecord(status="running", started_at=T0, build_id="b-7"),
        },
    )
    return rollout.model_copy(update=changes)


def an_environment(env: str = ENV) -> EnvironmentState:
    return EnvironmentState(
        name=env,
        last=LastMove(release=V, attempt=2, state=State.BAKING, at=T0),
        current=Deployed(release="1.1.0", artifacts={"web": "w-1.1.0"}, since=T0 - MINUTE),
        previous=Deployed(release="1.0.0", since=T0 - 2 * MINUTE),
        lock=Lock(release=V, attempt=2, acquired_at=T0, lease_until=T0 + 30 * MINUTE),
        frozen=Freeze(by="carol", reason="audit", since=T0),
    )


def an_entry(seq: int, to: State = State.GATING) -> HistoryEntry:
    return HistoryEntry(
        seq=seq,
        event_id=f"evt-{seq}",
        env=ENV,
        attempt=2,
        from_state=State.PENDING,
        to_state=to,
        actor="bob",
        at=T0 + seq * MINUTE,
    )


def a_record(
    event_id: str = "42",
    topic: str = TOPIC,
    *,
    done: bool = False,
    claimed_until: datetime | None = None,
    at: datetime = T0,
) -> Processed:
    event = ReleaseEvent(
        key=f"{V}/{ENV}/2/baking",
        release=V,
        env=ENV,
        attempt=2,
        from_state=State.VERIFYING,
        to_state=State.BAKING,
        actor="cloud-build",
        at=T0,
        event_id=event_id,
    )
    return Processed(
        event_id=event_id,
        topic=topic,
        at=at,
        outcome="applied",
        note="moved to baking",
        release=V,
        env=ENV,
        effects=[
            PublishEvent(release=V, env=ENV, attempt=2, event=event),
            StartBuild(
                release=V, env=ENV, attempt=2, step="deploy", config="c.yaml", env_project="p"
            ),
            Restore(release=V, env=ENV, attempt=2, target=Deployed(release="1.1.0", since=T0)),
            SetFlags(release=V, env=ENV, attempt=2, undo=[{"flag": "f", "before": None}]),
        ],
        effects_done=done,
        claimed_until=claimed_until,
    )


Staged = Release | Rollout | EnvironmentState | Processed | tuple[str, HistoryEntry]


def staging(*docs: Staged) -> Callable[[Tx], None]:
    """The work of a transaction that writes `docs` (a history entry as `(release, entry)`)."""

    def work(tx: Tx) -> None:
        for doc in docs:
            if isinstance(doc, Release):
                tx.put_release(doc)
            elif isinstance(doc, Rollout):
                tx.put_rollout(doc)
            elif isinstance(doc, EnvironmentState):
                tx.put_environment(doc)
            elif isinstance(doc, Processed):
                tx.mark_processed(doc)
            else:
                tx.add_history(*doc)

    return work


def write(s: Subject, *records: Processed) -> list[str]:
    for record in records:
        s.uow.atomically(lambda tx, r=record: tx.mark_processed(r))  # type: ignore[misc]
    return [record.key for record in records]


def stored(s: Subject, record: Processed) -> Processed | None:
    """What is recorded for `record`'s event, read the way the bus reads it."""
    return s.uow.atomically(lambda tx: tx.processed(record.topic, record.event_id))


# -- reading what was written ------------------------------------------------------------------


def test_what_one_transaction_writes_the_next_reads(s: Subject) -> None:
    release, rollout, env, record = a_release(), a_rollout(), an_environment(), a_record()

    def work(tx: Tx) -> str:
        tx.put_release(release)
        tx.put_rollout(rollout)
        tx.put_environment(env)
        tx.add_history(V, an_entry(2, State.AWAITING_APPROVAL))
        tx.add_history(V, an_entry(1))
        tx.mark_processed(record)
        return "done"

    assert s.uow.atomically(work) == "done"
    assert s.commits() == 1

    def read(tx: Tx) -> tuple[object, ...]:
        tx.prefetch(TOPIC, "42", V, ENV)
        return (
            tx.processed(TOPIC, "42"),
            tx.release(V),
            tx.rollout(V, ENV),
            tx.environment(ENV),
        )

    assert s.uow.atomically(read) == (record, release, rollout, env)
    assert s.uow.read_release(V) == release
    assert s.uow.read_rollout(V, ENV) == rollout
    assert s.uow.read_environment(ENV) == env
    assert s.history(V) == [an_entry(1), an_entry(2, State.AWAITING_APPROVAL)]  # seq order
    assert s.commits() == 1  # the reads committed nothing


def test_reads_without_prefetch_read_the_same(s: Subject) -> None:
    s.uow.atomically(staging(a_release(), a_rollout()))
    assert s.uow.atomically(lambda tx: (tx.rollout(V, ENV), tx.release(V))) == (
        a_rollout(),
        a_release(),
    )


def test_what_is_not_there_reads_as_nothing(s: Subject) -> None:
    def read(tx: Tx) -> tuple[object, ...]:
        tx.prefetch(TOPIC, "404", "9.9.9", "qa")
        return (
            tx.processed(TOPIC, "404"),
            tx.release("9.9.9"),
            tx.rollout("9.9.9", "qa"),
            tx.deployment("9.9.9", "qa", 1),
            tx.environment("qa"),
        )

    assert s.uow.atomically(read) == (None, None, None, None, EnvironmentState(name="qa"))
    assert s.uow.read_release("9.9.9") is None
    assert s.uow.read_rollout("9.9.9", "qa") is None
    assert s.uow.read_environment("qa") == EnvironmentState(name="qa")
    assert s.history("9.9.9") == []
    assert s.commits() == 0


def test_a_transaction_does_not_read_its_own_staged_writes(s: Subject) -> None:
    def work(tx: Tx) -> tuple[object, ...]:
        tx.put_release(a_release())
        tx.put_environment(an_environment())
        tx.mark_processed(a_record())
        return tx.release(V), tx.environment(ENV), tx.processed(TOPIC, "42")

    assert s.uow.atomically(work) == (None, EnvironmentState(name=ENV), None)
    assert s.uow.read_release(V) == a_release()  # and committed them


def test_a_document_is_written_as_it_was_when_staged(s: Subject) -> None:
    release = a_release()

    def work(tx: Tx) -> None:
        tx.put_release(release)
        release.author = "mallory"  # changed after it was staged
        release.artifacts["web"] = "evil"

    s.uow.atomically(work)
    assert s.uow.read_release(V) == a_release()


def test_the_last_staged_write_of_a_document_wins(s: Subject) -> None:
    def work(tx: Tx) -> None:
        tx.put_release(a_release(author="first"))
        tx.put_release(a_release(author="second"))

    s.uow.atomically(work)
    assert s.uow.read_release(V) == a_release(author="second")


def test_a_write_replaces_the_whole_document(s: Subject) -> None:
    s.uow.atomically(lambda tx: tx.put_rollout(a_rollout()))
    bare = a_rollout(steps={}, reason="retried")
    s.uow.atomically(lambda tx: tx.put_rollout(bare))
    assert s.uow.read_rollout(V, ENV) == bare


def test_what_a_read_returns_is_a_copy(s: Subject) -> None:
    s.uow.atomically(staging(a_release(), a_rollout()))
    mine = s.uow.read_release(V)
    assert mine is not None
    mine.artifacts["web"] = "changed"
    rollout = s.uow.atomically(lambda tx: tx.rollout(V, ENV))
    assert rollout is not None
    rollout.steps["gates"].status = "failed"
    assert s.uow.read_release(V) == a_release()
    assert s.uow.read_rollout(V, ENV) == a_rollout()


def test_history_keeps_one_entry_per_seq_in_seq_order(s: Subject) -> None:
    s.uow.atomically(staging((V, an_entry(3)), (V, an_entry(1))))
    s.uow.atomically(lambda tx: tx.add_history(V, an_entry(3, State.BLOCKED)))  # same seq
    s.uow.atomically(lambda tx: tx.add_history("2.0.0", an_entry(1)))
    assert s.history(V) == [an_entry(1), an_entry(3, State.BLOCKED)]
    assert s.history("2.0.0") == [an_entry(1)]


def test_values_come_back_as_firestore_keeps_them(s: Subject) -> None:
    """Times in UTC (a naive one is taken as UTC); tuples and sets as lists."""
    east = timezone(timedelta(hours=5))
    naive = a_release(created_at=datetime(2026, 11, 20, 9, 30))
    rollout = a_rollout(updated_at=T0.astimezone(east))
    rollout.steps["smoke"] = StepRecord(status="passed", detail={"pair": ("a", 1), "one": {"x"}})
    s.uow.atomically(staging(naive, rollout))
    back = s.uow.read_release(V)
    assert back is not None and back.created_at == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert back.created_at.utcoffset() == timedelta(0)
    read = s.uow.read_rollout(V, ENV)
    assert (
        read is not None and read.updated_at == T0 and read.updated_at.utcoffset() == timedelta(0)
    )
    assert read.steps["smoke"].detail == {"pair": ["a", 1], "one": ["x"]}


# -- all or nothing ----------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_a_transaction_whose_work_raises_writes_nothing(s: Subject) -> None:
    s.uow.atomically(lambda tx: tx.put_release(a_release()))
    commits = s.commits()

    def work(tx: Tx) -> None:
        tx.put_release(a_release(author="changed"))
        tx.put_rollout(a_rollout())
        tx.put_environment(an_environment())
        tx.add_history(V, an_entry(1))
        tx.mark_processed(a_record())
        raise Boom("the handler failed")

    with pytest.raises(Boom):
        s.uow.atomically(work)
    assert s.uow.read_release(V) == a_release()
    assert s.uow.read_rollout(V, ENV) is None
    assert s.uow.read_environment(ENV) == EnvironmentState(name=ENV)
    assert s.history(V) == []
    assert stored(s, a_record()) is None
    assert s.commits() == commits


def test_a_refused_event_writes_nothing(s: Subject) -> None:
    def work(tx: Tx) -> None:
        tx.put_rollout(a_rollout())
        raise Refused("illegal move")

    with pytest.raises(Refused, match="illegal move"):
        s.uow.atomically(work)
    assert s.uow.read_rollout(V, ENV) is None


def test_a_transaction_that_stages_no_write_commits_nothing(s: Subject) -> None:
    s.uow.atomically(staging(a_release(), a_record()))
    commits = s.commits()

    def duplicate(tx: Tx) -> Processed | None:
        tx.prefetch(TOPIC, "42", V, ENV)
        return tx.processed(TOPIC, "42")

    assert s.uow.atomically(duplicate) == a_record()  # its result, all the same
    assert s.uow.atomically(lambda tx: tx.release(V)) == a_release()
    assert s.commits() == commits
    assert s.uow.read_release(V) == a_release()


def _detail(value: object) -> Rollout:
    rollout = a_rollout()
    rollout.steps["gates"].detail = {"evidence": value}
    return rollout


def _nested(depth: int) -> dict[str, Any]:
    inner: dict[str, Any] = {}
    for _ in range(depth):
        inner = {"k": inner}
    return inner


BIG = "x" * 600_000


def _artifact_named(length: int) -> EnvironmentState:
    """An environment whose current release has an artifact whose field path,
    `current.artifacts.<name>`, is `length` bytes long."""
    env = an_environment()
    assert env.current is not None
    env.current.artifacts = {"x" * (length - len("current.artifacts.")): "ref"}
    return env


NEVER_STORED: dict[str, Callable[[], Release | Rollout | EnvironmentState]] = {
    # what the server refuses (InvalidArgument): the adapter refuses the event
    "a value over 1 MiB": lambda: a_release(artifacts={"blob": "x" * 1_100_000}),
    "a document over 1 MiB": lambda: a_release(artifacts={"a": BIG, "b": BIG}),
    "an array in an array": lambda: _detail([[1, 2], [3]]),
    "maps nested too deep": lambda: _detail(_nested(25)),
    "a reserved field name": lambda: _detail({"__name__": 1}),
    "a field path over 1,500 bytes": lambda: _artifact_named(1_501),
}


@pytest.mark.parametrize("kind", NEVER_STORED)
def test_writes_firestore_can_never_store_are_refused_and_nothing_is_written(
    s: Subject, kind: str
) -> None:
    doc = NEVER_STORED[kind]()

    with pytest.raises(Refused, match="Firestore refused this event's writes"):
        s.uow.atomically(staging(an_environment(), doc, a_record()))
    assert s.uow.read_environment(ENV) == EnvironmentState(name=ENV)
    assert s.uow.read_release(V) is None and s.uow.read_rollout(V, ENV) is None
    assert stored(s, a_record()) is None


def test_a_document_just_under_the_limits_is_written(s: Subject) -> None:
    release = a_release(artifacts={"a": BIG, "b": "y" * 448_000})
    rollout = _detail(_nested(15))
    env = _artifact_named(1_500)
    s.uow.atomically(staging(release, rollout, env))
    assert s.uow.read_release(V) == release
    assert s.uow.read_rollout(V, ENV) == rollout
    assert s.uow.read_environment(ENV) == env


UNENCODABLE: dict[str, Callable[[], Rollout]] = {
    # what the client library cannot even encode (it raises ValueError)
    "an integer beyond int64": lambda: _detail(2**64),
    "an empty map key": lambda: _detail({"": 1}),
    "a map key that is not a string": lambda: _detail({1: "one"}),
}


@pytest.mark.parametrize("kind", UNENCODABLE)
def test_a_value_firestore_cannot_encode_fails_the_transaction_and_writes_nothing(
    s: Subject, kind: str
) -> None:
    rollout = UNENCODABLE[kind]()

    def work(tx: Tx) -> None:
        tx.put_environment(an_environment())
        tx.put_rollout(rollout)

    with pytest.raises(Refused):
        s.uow.atomically(work)
    assert s.uow.read_environment(ENV) == EnvironmentState(name=ENV)
    assert s.uow.read_rollout(V, ENV) is None


@pytest.mark.parametrize("kind", UNENCODABLE)
def test_a_value_firestore_cannot_encode_refuses_the_event(s: Subject, kind: str) -> None:
    rollout = UNENCODABLE[kind]()
    with pytest.raises(Refused, match="Firestore refused this event's writes"):
        s.uow.atomically(lambda tx: tx.put_rollout(rollout))


# -- events: per-topic keys, legacy ids, refusals ----------------------------------------------


def test_an_event_is_found_by_its_topic_and_id(s: Subject) -> None:
    write(s, a_record("42", TOPIC))

    def read(tx: Tx, topic: str) -> Processed | None:
        tx.prefetch(topic, "42", None, None)
        return tx.processed(topic, "42")

    assert s.uow.atomically(lambda tx: read(tx, TOPIC)) == a_record("42", TOPIC)
    assert s.uow.atomically(lambda tx: read(tx, "cloud-builds")) is None  # same id, other topic
    assert s.uow.atomically(lambda tx: tx.processed(TOPIC, "43")) is None


def test_a_record_under_the_bare_event_id_is_found_only_for_its_own_topic(s: Subject) -> None:
    legacy = a_record("42", TOPIC, done=True)
    s.seed_legacy(legacy)  # processedEvents/42, written before ids were per topic

    def read(tx: Tx, topic: str) -> Processed | None:
        tx.prefetch(topic, "42", V, ENV)
        return tx.processed(topic, "42")

    assert s.uow.atomically(lambda tx: read(tx, TOPIC)) == legacy
    assert s.uow.atomically(lambda tx: tx.processed(TOPIC, "42")) == legacy  # no prefetch
    assert s.uow.atomically(lambda tx: read(tx, "cloud-builds")) is None
    assert s.uow.atomically(lambda tx: tx.processed("cloud-builds", "42")) is None


def test_the_per_topic_record_wins_over_a_legacy_one(s: Subject) -> None:
    s.seed_legacy(a_record("42", TOPIC, done=True, at=T0 - MINUTE))
    write(s, a_record("42", TOPIC))
    assert s.uow.atomically(lambda tx: tx.processed(TOPIC, "42")) == a_record("42", TOPIC)


def test_an_unfinished_outbox_recorded_under_the_bare_event_id_can_be_claimed(
    s: Subject,
) -> None:
    legacy = a_record("42", TOPIC)  # its effects not carried out, never claimed
    s.seed_legacy(legacy)
    found = s.uow.atomically(lambda tx: tx.processed(TOPIC, "42"))
    assert found == legacy and not found.effects_done
    assert s.uow.claim(found.key, T0, T0 + 10 * MINUTE) is not None
    assert s.uow.claim(found.key, T0, T0 + 10 * MINUTE) is None  # held now
    s.uow.finish_effects(found.key)  # into the document it was found in, no stub beside it
    done = s.uow.atomically(lambda tx: tx.processed(TOPIC, "42"))
    assert done is not None and done.effects_done
    assert s.uow.claim(found.key, T0 + 20 * MINUTE, T0 + 30 * MINUTE) is None


def test_the_sweep_drains_outboxes_written_before_claims_existed(s: Subject) -> None:
    now = T0 + 60 * MINUTE
    s.seed_legacy(a_record("7", TOPIC, at=now - 11 * MINUTE))  # older than OUTBOX_LEASE
    s.seed_legacy(a_record("8", TOPIC, at=now - 5 * MINUTE))  # its runner may still run
    lapsed = write(s, a_record("l-1", claimed_until=now - MINUTE))
    assert [r.key for r in s.uow.unfinished(now, limit=10)] == [*lapsed, f"{TOPIC}:7"]
    assert [r.key for r in s.uow.unfinished(now, limit=1)] == lapsed


def test_follow_up_events_with_slashes_in_their_ids_are_found(s: Subject) -> None:
    first, second = f"{TOPIC}:7/0", f"{TOPIC}:7/0/staging"
    write(s, a_record(first, INTERNAL), a_record(second, INTERNAL, done=True))
    assert a_record(first, INTERNAL).key == first  # internal ids need no topic

    def read(tx: Tx, event_id: str) -> Processed | None:
        tx.prefetch(INTERNAL, event_id, V, ENV)
        return tx.processed(INTERNAL, event_id)

    assert s.uow.atomically(lambda tx: read(tx, first)) == a_record(first, INTERNAL)
    assert s.uow.atomically(lambda tx: read(tx, second)) == a_record(second, INTERNAL, done=True)
    assert s.uow.atomically(lambda tx: read(tx, f"{TOPIC}:7/1")) is None


def test_refuse_stores_the_letter_and_the_record(s: Subject) -> None:
    follow_up = f"{TOPIC}:9/1"
    for topic, event_id in ((TOPIC, "77"), (INTERNAL, follow_up)):
        dead = letter(
            event_id=event_id,
            topic=topic,
            reason="cannot be decoded: ValueError",
            payload=b'{"type": "release.promote"}',
            attributes={"origin": "test"},
            now=T0,
        )
        record = Processed(
            event_id=event_id, topic=topic, at=T0, outcome="refused", note=dead.reason
        )
        s.uow.refuse(record, dead)
        assert s.letter(dead.key) == dead
        assert s.uow.atomically(lambda tx, t=topic, e=event_id: tx.processed(t, e)) == record  # type: ignore[misc]
    assert s.letter(f"{TOPIC}:404") is None
    assert s.commits() == 0  # not a transaction


def test_refuse_replaces_what_was_recorded(s: Subject) -> None:
    write(s, a_record("42", TOPIC))
    record = Processed(event_id="42", topic=TOPIC, at=T0, outcome="refused", note="no")
    dead = letter(event_id="42", topic=TOPIC, reason="no", payload=b"", attributes={}, now=T0)
    s.uow.refuse(record, dead)
    assert s.uow.atomically(lambda tx: tx.processed(TOPIC, "42")) == record


# -- the outbox: finishing, claims, the sweep --------------------------------------------------


def test_finish_effects_marks_the_outbox_done_and_keeps_the_rest(s: Subject) -> None:
    (key,) = write(s, a_record(claimed_until=T0 + 10 * MINUTE))
    s.uow.finish_effects(key)
    assert stored(s, a_record()) == a_record(done=True, claimed_until=T0 + 10 * MINUTE)
    assert s.uow.claim(key, T0 + 20 * MINUTE, T0 + 30 * MINUTE) is None
    assert s.uow.unfinished(T0 + 20 * MINUTE, limit=10) == []
    s.uow.finish_effects(key)  # again: no change
    assert stored(s, a_record()) == a_record(done=True, claimed_until=T0 + 10 * MINUTE)


CLAIMS = {
    # (effects done, claimed until relative to now or None) -> the claim is taken
    "never claimed": (False, None, True),
    "lapsed": (False, -MINUTE, True),
    "lapsing now": (False, timedelta(0), True),
    "held": (False, MINUTE, False),
    "done, never claimed": (True, None, False),
    "done, lapsed": (True, -MINUTE, False),
}


@pytest.mark.parametrize("case", CLAIMS)
def test_a_claim_is_taken_only_on_an_unfinished_outbox_no_one_holds(s: Subject, case: str) -> None:
    done, offset, taken = CLAIMS[case]
    now, until = T0 + 10 * MINUTE, T0 + 20 * MINUTE
    claimed_until = None if offset is None else now + offset
    (key,) = write(s, a_record(done=done, claimed_until=claimed_until))
    got = s.uow.claim(key, now, until)
    if taken:
        assert got == a_record(done=done, claimed_until=until)
        assert stored(s, a_record()) == a_record(done=done, claimed_until=until)
    else:
        assert got is None
        assert stored(s, a_record()) == a_record(done=done, claimed_until=claimed_until)


def test_a_claim_is_held_until_it_lapses(s: Subject) -> None:
    (key,) = write(s, a_record(claimed_until=T0))
    assert s.uow.claim(key, T0, T0 + 10 * MINUTE) is not None
    assert s.uow.claim(key, T0, T0 + 10 * MINUTE) is None  # the other runner
    assert s.uow.claim(key, T0 + 9 * MINUTE, T0 + 19 * MINUTE) is None
    again = s.uow.claim(key, T0 + 10 * MINUTE, T0 + 20 * MINUTE)
    assert again is not None and again.claimed_until == T0 + 20 * MINUTE


def test_a_claim_on_no_record_is_none_and_creates_nothing(s: Subject) -> None:
    assert s.uow.claim(f"{TOPIC}:404", T0, T0 + MINUTE) is None
    assert stored(s, a_record("404")) is None


def test_a_released_claim_lapses_when_it_is_released(s: Subject) -> None:
    """`release_claim` writes the server's time: the claim has lapsed for anyone asking from
    then on (on the real clock), never for a time before it was released."""
    later = utcnow() + 10 * MINUTE
    (key,) = write(s, a_record(claimed_until=later))
    before = utcnow() - MINUTE
    s.uow.release_claim(key)
    released = stored(s, a_record())
    assert released is not None and released.claimed_until is not None
    assert before < released.claimed_until <= utcnow() + timedelta(seconds=5)
    assert s.uow.claim(key, before, later) is None  # not lapsed before it was released
    assert s.uow.unfinished(before, limit=10) == []
    now = utcnow() + timedelta(seconds=5)
    assert [r.key for r in s.uow.unfinished(now, limit=10)] == [key]
    assert s.uow.claim(key, now, later) == a_record(claimed_until=later)  # the redelivery's


def test_releasing_a_claim_on_no_record_fails_and_creates_nothing(s: Subject) -> None:
    with pytest.raises(NotFound):  # the bus catches it: the claim then lapses by itself
        s.uow.release_claim(f"{TOPIC}:404")
    assert stored(s, a_record("404")) is None


def test_the_sweep_finds_lapsed_unfinished_outboxes_oldest_first(s: Subject) -> None:
    now = T0 + 60 * MINUTE
    lapsed = write(
        s,
        a_record("l-1", claimed_until=now - 1 * MINUTE),
        a_record("l-30", claimed_until=now - 30 * MINUTE),
        a_record("l-7", claimed_until=now - 7 * MINUTE),
        a_record("l-0", claimed_until=now),  # lapsing now
    )
    write(
        s,
        a_record("held", claimed_until=now + MINUTE),
        a_record("done", done=True, claimed_until=now - 50 * MINUTE),
        # no claim and younger than OUTBOX_LEASE: its own runner's, not the sweep's
        a_record("never-claimed", at=now - MINUTE),
        a_record("internal", INTERNAL, done=True, claimed_until=now - 40 * MINUTE),
    )
    found = s.uow.unfinished(now, limit=10)
    assert [r.key for r in found] == [lapsed[1], lapsed[2], lapsed[0], lapsed[3]]
    assert found[0] == a_record("l-30", claimed_until=now - 30 * MINUTE)
    assert [r.key for r in s.uow.unfinished(now, limit=2)] == [lapsed[1], lapsed[2]]
    assert s.uow.unfinished(now - 31 * MINUTE, limit=10) == []


def test_the_sweep_orders_outboxes_lapsed_at_one_time_by_their_key(s: Subject) -> None:
    at = T0 - MINUTE
    keys = write(
        s,
        a_record("b", claimed_until=at),
        a_record("c", claimed_until=at),
        a_record("a", claimed_until=at),
        a_record(f"{TOPIC}:3/1", INTERNAL, claimed_until=at),
    )
    found = [r.key for r in s.uow.unfinished(T0, limit=10)]
    assert found == sorted(keys, key=doc_id)  # Firestore's tie-break: the document id


# -- deployments -------------------------------------------------------------------------------


def test_a_deployment_is_read_for_the_attempt_that_recorded_it(s: Subject) -> None:
    artifacts = {"web": "gs://b/web.tgz", "functions": "sha256:ff"}
    s.uow.record_deployment(V, ENV, 2, artifacts, "build-9")

    def read(tx: Tx, env: str, attempt: int) -> dict[str, str] | None:
        return tx.deployment(V, env, attempt)

    assert s.uow.atomically(lambda tx: read(tx, ENV, 2)) == artifacts
    assert s.uow.atomically(lambda tx: read(tx, ENV, 1)) is None  # an earlier attempt's build
    assert s.uow.atomically(lambda tx: read(tx, "production", 2)) is None
    s.uow.record_deployment(V, ENV, 3, {"web": "w3"}, "build-10")  # the next attempt's
    assert s.uow.atomically(lambda tx: read(tx, ENV, 2)) is None
    assert s.uow.atomically(lambda tx: read(tx, ENV, 3)) == {"web": "w3"}
    assert s.uow.read_release(V) is None  # a deployment is not a release


def test_a_recorded_deployment_is_a_copy(s: Subject) -> None:
    artifacts = {"web": "w"}
    s.uow.record_deployment(V, ENV, 1, artifacts, "b-1")
    artifacts["web"] = "changed"
    got = s.uow.atomically(lambda tx: tx.deployment(V, ENV, 1))
    assert got == {"web": "w"}
    assert got is not None
    got["web"] = "mine"
    assert s.uow.atomically(lambda tx: tx.deployment(V, ENV, 1)) == {"web": "w"}


def test_an_operation_and_its_outbox_are_stored_and_read_back(s: Subject) -> None:
    """A flag or backup command: the operation record (by its event key, which holds a colon)
    and an outbox carrying the command it runs (less the token)."""
    from shared.domain.commands import SetFlag
    from shared.domain.effects import RunOperation
    from shared.domain.operations import Operation

    key = f"{TOPIC}:op-7"
    op = Operation(
        id=key,
        env=ENV,
        kind="flags.set",
        actor="fay@avalo.app",
        actor_uid="uid-fay",
        asked="set videoCalls: rollout 12.5%",
        requested_at=T0,
        detail={"before": {"rolloutPercent": 10.0}},
    )
    cmd = SetFlag(
        type="flags.set", env=ENV, actor="fay@avalo.app", flag="videoCalls", rollout_percent=12.5
    )
    effect = RunOperation(env=ENV, operation=key, command=cmd)
    record = Processed(
        event_id="op-7",
        topic=TOPIC,
        at=T0,
        outcome="applied",
        env=ENV,
        effects=[effect],
        effects_done=False,
    )

    def work(tx: Tx) -> None:
        tx.put_operation(op)
        tx.mark_processed(record)

    s.uow.atomically(work)
    got, processed = s.uow.atomically(
        lambda tx: (tx.operation(ENV, key), tx.processed(TOPIC, "op-7"))
    )
    assert got == op and tx_none(s, key)
    assert processed is not None and processed.effects == [effect]
    closed = op.model_copy(update={"status": "done", "result": "ok", "finished_at": T0 + MINUTE})
    s.uow.atomically(lambda tx: tx.put_operation(closed))
    assert s.uow.atomically(lambda tx: tx.operation(ENV, key)) == closed


def tx_none(s: Subject, key: str) -> bool:
    """Another env's operation of the same id is not there."""
    return s.uow.atomically(lambda tx: tx.operation("dev", key)) is None
