"""The per-env analysis lease on the Firestore emulator, and the same rules in the unit
tests' in-memory lease (the fake must not drift from the adapter)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.monitoring.lease import FirestoreDetectionLease
from shared.monitoring.ports import DetectionLease
from tests.unit.test_detection import MemoryLease

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.fixture(params=["firestore", "memory"])
def make(request: pytest.FixtureRequest) -> Callable[[], DetectionLease]:
    if request.param == "memory":
        return MemoryLease
    db: Any = request.getfixturevalue("firestore_db")
    return lambda: FirestoreDetectionLease(db)


def test_one_holder_at_a_time_a_second_marks_pending_and_the_holder_runs_again(
    make: Callable[[], DetectionLease],
) -> None:
    lease = make()
    assert lease.acquire("dev", "a", T0, T0 + 60 * S) == (True, None)
    assert lease.acquire("dev", "b", T0 + S, T0 + 61 * S) == (False, None)
    assert lease.acquire("dev", "c", T0 + S, T0 + 61 * S) == (False, None)  # already pending
    assert lease.acquire("staging", "s", T0, T0 + 60 * S) == (True, None)  # per env
    assert lease.finish("dev", "a", T0, T0 + 62 * S) is True  # pending: run again, keep it
    assert lease.acquire("dev", "d", T0 + 3 * S, T0 + 63 * S) == (False, None)
    assert lease.finish("dev", "a", T0 + 2 * S, T0 + 64 * S) is True
    assert lease.finish("dev", "a", T0 + 4 * S, T0 + 64 * S) is False  # nothing new: let go
    taken, last = lease.acquire("dev", "e", T0 + 5 * S, T0 + 65 * S)
    assert taken and last is not None and last.timestamp() == (T0 + 4 * S).timestamp()


def test_a_lapsed_lease_is_taken_over_and_the_old_holder_cannot_finish(
    make: Callable[[], DetectionLease],
) -> None:
    lease = make()
    lease.acquire("dev", "dead", T0, T0 + 60 * S)
    assert lease.acquire("dev", "new", T0 + 61 * S, T0 + 121 * S)[0]
    assert lease.finish("dev", "dead", T0, T0 + 200 * S) is False
    lease.release("dev", "dead", T0)  # not its lease any more: nothing changes
    assert lease.acquire("dev", "x", T0 + 62 * S, T0 + 122 * S) == (False, None)
    lease.release("dev", "new", T0 + 62 * S)
    assert lease.acquire("dev", "x", T0 + 63 * S, T0 + 123 * S)[0]
