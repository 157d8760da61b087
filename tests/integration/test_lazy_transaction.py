"""Transactions begun inside their first read, on the Firestore emulator: isolation under
concurrent writers, nothing written by an attempt that fails, no BeginTransaction call."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from google.api_core.exceptions import InvalidArgument

from shared.adapters.firestore_store import FirestoreUnitOfWork
from shared.adapters.lazy_transaction import LazyTransaction, attempts
from shared.errors import Refused


def counted(db: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    api = db._firestore_api
    for name in ("begin_transaction", "batch_get_documents", "commit", "rollback"):
        real = getattr(api, name)

        def wrapper(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            counts[_name] += 1
            return _real(*args, **kwargs)

        setattr(api, name, wrapper)
    return counts


def test_reads_see_documents_and_gaps_and_the_writes_commit_without_a_begin_call(
    firestore_db: Any,
) -> None:
    firestore_db.document("lazy/one").set({"n": 1, "nested": {"at": [1, "two"]}})
    counts = counted(firestore_db)
    refs = [firestore_db.document("lazy/one"), firestore_db.document("lazy/none")]
    seen: dict[str, Any] = {}

    def work(tx: LazyTransaction) -> None:
        seen.update(tx.read(refs))
        tx.set(firestore_db.document("lazy/none"), {"n": seen["lazy/one"]["n"] + 1})

    attempts(firestore_db, work)()
    assert counts == Counter(batch_get_documents=1, commit=1)
    assert seen == {"lazy/one": {"n": 1, "nested": {"at": [1, "two"]}}, "lazy/none": None}
    assert firestore_db.document("lazy/none").get().to_dict() == {"n": 2}


def test_concurrent_increments_lose_no_update(firestore_db: Any) -> None:
    uow = FirestoreUnitOfWork(firestore_db)
    ref = firestore_db.document("lazy/counter")
    ref.set({"n": 0})
    barrier = threading.Barrier(4)

    def increment(tx: LazyTransaction) -> None:
        doc = tx.read([ref])[ref.path] or {"n": 0}
        tx.set(ref, {"n": doc["n"] + 1})

    def racer() -> None:
        barrier.wait()
        for _ in range(2):
            uow._retrying(attempts(firestore_db, increment))

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ref.get().to_dict() == {"n": 8}


def test_an_attempt_that_raises_writes_nothing_and_lets_go_of_its_reads(
    firestore_db: Any,
) -> None:
    ref = firestore_db.document("lazy/held")
    ref.set({"n": 0})
    counts = counted(firestore_db)

    def fails(tx: LazyTransaction) -> None:
        tx.read([ref])
        tx.set(ref, {"n": 99})
        raise RuntimeError("the handler broke")

    with pytest.raises(RuntimeError, match="the handler broke"):
        attempts(firestore_db, fails)()
    assert counts == Counter(batch_get_documents=1, rollback=1)
    ref.set({"n": 1})  # not blocked by a lock the failed attempt kept
    assert ref.get().to_dict() == {"n": 1}


def test_a_read_only_attempt_rolls_back_and_commits_nothing(firestore_db: Any) -> None:
    counts = counted(firestore_db)
    found = attempts(firestore_db, lambda tx: tx.read([firestore_db.document("lazy/x")]))()
    assert counts == Counter(batch_get_documents=1, rollback=1)
    assert found == {"lazy/x": None}


def test_a_value_firestore_cannot_hold_is_refused_and_writes_nothing(firestore_db: Any) -> None:
    uow = FirestoreUnitOfWork(firestore_db)
    ref = firestore_db.document("lazy/big")

    def too_big(tx: Any) -> None:
        tx._writes.append((ref, {"n": 2**70}))  # beyond int64

    with pytest.raises(Refused, match="refused this event's writes"):
        uow.atomically(too_big)
    assert not ref.get().exists

    def over_limit(tx: LazyTransaction) -> None:
        tx.set(ref, {"s": "x" * 1_100_000})  # over a document's 1 MiB

    with pytest.raises(InvalidArgument):
        attempts(firestore_db, over_limit)()
    assert not ref.get().exists
