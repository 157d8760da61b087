"""Claims on the Firestore emulator: outbox claims taken by one runner at a time and swept
oldest-lapsed first, build starts decided by a create-only marker, and per-topic event ids
that still recognise a redelivery recorded under the old id."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.build_starts import STALE_START, FirestoreBuildStarts, StartInProgress
from shared.adapters.cloudbuild import CloudBuildPort
from shared.adapters.firestore_store import FirestoreUnitOfWork
from shared.config import PlaneConfig
from shared.domain.commands import CreateRelease
from shared.service.messagebus import MessageBus
from shared.service.ports import Processed
from tests.integration.core_stack import step_request
from tests.unit.fakes import FakeClock, fake_ports

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SHA = "ab" * 20  # a commit id (low entropy: not a secret to the scanner)


def outbox(uow: FirestoreUnitOfWork, event_id: str, claimed_until: datetime | None) -> str:
    record = Processed(
        event_id=event_id,
        topic="release-commands",
        at=NOW,
        outcome="applied",
        effects_done=False,
        claimed_until=claimed_until,
    )
    uow.atomically(lambda tx: tx.mark_processed(record))
    return record.key


def test_of_many_concurrent_claims_on_one_outbox_one_wins(firestore_db: Any) -> None:
    uow = FirestoreUnitOfWork(firestore_db)
    key = outbox(uow, "o-1", NOW - timedelta(minutes=1))
    results: list[Processed | None] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        results.append(uow.claim(key, NOW, NOW + timedelta(minutes=10)))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert uow.claim(key, NOW + timedelta(minutes=5), NOW + timedelta(minutes=15)) is None
    uow.release_claim(key)  # a runner that failed gives it up at once
    assert uow.claim(key, datetime.now(UTC), NOW + timedelta(minutes=15)) is not None


def test_the_sweep_query_takes_lapsed_claims_oldest_first(firestore_db: Any) -> None:
    uow = FirestoreUnitOfWork(firestore_db)
    lapsed = [outbox(uow, f"l-{n}", NOW - timedelta(minutes=n)) for n in (1, 30, 7)]
    outbox(uow, "held", NOW + timedelta(minutes=5))
    done = outbox(uow, "done", NOW - timedelta(hours=1))
    uow.finish_effects(done)
    found = [r.key for r in uow.unfinished(NOW, limit=10)]
    assert found == [lapsed[1], lapsed[2], lapsed[0]]
    assert [r.key for r in uow.unfinished(NOW, limit=2)] == [lapsed[1], lapsed[2]]


def test_a_redelivery_recorded_under_the_old_id_is_a_duplicate(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    bus = MessageBus(
        uow=FirestoreUnitOfWork(firestore_db), plane=plane, clock=FakeClock(), ports=fake_ports()
    )
    # written before ids were per topic: processedEvents/{messageId}
    old = Processed(event_id="42", topic="release-commands", at=NOW, outcome="applied")
    firestore_db.document("processedEvents/42").set(old.to_doc())
    cmd = CreateRelease(
        type="release.create", version="3.0.0", commit=SHA, branch="main", author="al"
    )
    again = bus.handle(cmd, event_id="42", topic="release-commands")
    assert again.outcome == "applied" and not firestore_db.document("releases/3.0.0").get().exists
    other = bus.handle(cmd, event_id="42", topic="cloud-builds")  # same id, another topic
    assert other.outcome == "applied" and firestore_db.document("releases/3.0.0").get().exists
    assert firestore_db.document("processedEvents/cloud-builds:42").get().exists


class CountingCloudBuild:
    """Counts `create_build` calls (the marker, not Cloud Build, is under test)."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.lock = threading.Lock()

    def list_builds(self, **_: object) -> list[Any]:
        return []

    def create_build(self, **_: object) -> Any:
        with self.lock:
            self.created.append(f"build-{len(self.created) + 1}")
            build_id = self.created[-1]

        class Operation:
            class metadata:  # noqa: N801 - the shape of the long-running operation's metadata
                class build:  # noqa: N801
                    id = build_id

        return Operation


def test_concurrent_starts_of_one_step_create_one_build(firestore_db: Any) -> None:
    builds = CountingCloudBuild()
    port = CloudBuildPort("demo-release-control", FirestoreBuildStarts(firestore_db))
    port._client = builds
    request = step_request("4.0.0", "staging", "migrate")
    outcomes: list[str] = []
    barrier = threading.Barrier(5)

    def start() -> None:
        barrier.wait()
        try:
            outcomes.append(port.start(request))
        except StartInProgress:
            outcomes.append("in progress")

    threads = [threading.Thread(target=start) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert builds.created == ["build-1"]
    assert set(outcomes) <= {"build-1", "in progress"} and "build-1" in outcomes
    assert port.start(request) == "build-1"  # later repeats reuse it
    assert builds.created == ["build-1"]


def test_a_marker_left_by_a_dead_runner_is_taken_over_once_stale(firestore_db: Any) -> None:
    starts = FirestoreBuildStarts(firestore_db)
    key = step_request("5.0.0", "staging", "deploy").key
    assert starts.claim(key, NOW).build_id is None  # this runner dies before starting it
    with pytest.raises(StartInProgress):  # a fresh marker without a build: others wait
        starts.claim(key, NOW + timedelta(seconds=30))
    later = NOW + STALE_START + timedelta(seconds=1)
    assert starts.claim(key, later).takeover
    starts.record(key, "b-9")
    assert starts.claim(key, later).build_id == "b-9"


def test_writes_firestore_can_never_commit_are_refused_not_retried(firestore_db: Any) -> None:
    from shared.domain.model import Release
    from shared.errors import Refused

    uow = FirestoreUnitOfWork(firestore_db)
    huge = Release(
        version="9.9.9",
        commit=SHA,
        branch="main",
        author="al",
        created_at=NOW,
        artifacts={"blob": "x" * 1_100_000},  # over Firestore's 1 MiB document limit
    )
    with pytest.raises(Refused, match="Firestore refused"):
        uow.atomically(lambda tx: tx.put_release(huge))
    assert not firestore_db.document("releases/9.9.9").get().exists
