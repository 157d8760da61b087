"""Real Firestore transactions: one rollout per environment, even under concurrent promotions."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.adapters.firestore_store import FirestoreUnitOfWork
from shared.config import PlaneConfig
from shared.domain.commands import parse_command
from shared.service.messagebus import MessageBus
from tests.unit.fakes import FakeClock, fake_ports

SHA = "abcdefabcdefabcdefabcdefabcdefabcdefabcd"


def bus(db: Any, plane: PlaneConfig) -> MessageBus:
    return MessageBus(
        uow=FirestoreUnitOfWork(db), plane=plane, clock=FakeClock(), ports=fake_ports()
    )


def send(b: MessageBus, event_id: str, **payload: Any) -> Any:
    data = json.dumps(payload).encode()
    return b.handle(parse_command(data), event_id=event_id, topic="release-commands", payload=data)


def test_ten_concurrent_promotions_to_one_env_leave_exactly_one_holder(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    b = bus(firestore_db, plane)
    versions = [f"5.0.{n}" for n in range(10)]
    for v in versions:
        send(b, f"c-{v}", type="release.create", version=v, commit=SHA, branch="main", author="a")

    def promote(v: str) -> Any:
        return send(b, f"p-{v}", type="release.promote", release=v, env="staging", actor="a")

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(promote, versions))

    applied = [r for r in results if r.outcome == "applied"]
    refused = [r for r in results if r.outcome == "refused"]
    assert len(applied) == 1
    assert len(refused) == 9
    holder = applied[0].release
    assert all(f"locked by release {holder}" in r.note for r in refused)
    env = firestore_db.document("environments/staging").get().to_dict()
    assert env["lock"]["release"] == holder
    rollouts = [
        v for v in versions if firestore_db.document(f"releases/{v}/rollouts/staging").get().exists
    ]
    assert rollouts == [holder]  # the refused ones wrote nothing
    letters = {d.id for d in firestore_db.collection("deadLetters").stream()}
    assert letters == {f"release-commands:p-{v}" for v in versions if v != holder}


def test_a_duplicate_costs_one_read_and_writes_nothing(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    b = bus(firestore_db, plane)
    first = send(
        b, "dup-1", type="release.create", version="6.0.0", commit=SHA, branch="main", author="a"
    )
    before = firestore_db.document("processedEvents/release-commands:dup-1").get().update_time
    again = send(
        b, "dup-1", type="release.create", version="6.0.0", commit=SHA, branch="main", author="a"
    )
    assert again.outcome == first.outcome == "applied"
    assert (
        firestore_db.document("processedEvents/release-commands:dup-1").get().update_time == before
    )


def test_a_frozen_env_refuses_promotion_but_rolls_back(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    b = bus(firestore_db, plane)
    send(b, "c1", type="release.create", version="7.0.0", commit=SHA, branch="main", author="a")
    send(b, "f1", type="env.freeze", env="dev", actor="ops", reason="incident 42")
    refused = send(b, "p1", type="release.promote", release="7.0.0", env="dev", actor="a")
    assert refused.outcome == "refused"
    assert "frozen by ops" in refused.note
    assert not firestore_db.document("releases/7.0.0/rollouts/dev").get().exists
    frozen = firestore_db.document("environments/dev").get().to_dict()["frozen"]
    assert frozen["reason"] == "incident 42"
    send(b, "u1", type="env.unfreeze", env="dev", actor="ops")
    assert (
        send(b, "p2", type="release.promote", release="7.0.0", env="dev", actor="a").outcome
        == "applied"
    )
