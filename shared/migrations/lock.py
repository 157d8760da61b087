"""The per-environment migration lock: `_schema/lock`, held with a lease.

Two runs never interleave: the lock is taken in a transaction, renewed (and checked) with every
checkpoint, and released at the end. A crashed run does not block forever: its lease runs out,
and on the same host a holder whose process is gone is taken over at once.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random

from shared.domain.model import Doc
from shared.migrations.errors import LockHeld, LockLost

LOCK_PATH = "_schema/lock"


class Lease(Doc):
    run_id: str
    actor: str
    host: str
    pid: int
    release: str | None = None
    acquired_at: datetime
    expires_at: datetime


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def may_take(
    held: Lease | None, now: datetime, host: str, alive: Callable[[int], bool] = pid_alive
) -> bool:
    """Free, expired, or held by a dead process on this very host."""
    if held is None or held.expires_at <= now:
        return True
    return held.host == host and not alive(held.pid)


def describe(held: Lease) -> str:
    return (
        f"migration lock held by {held.actor} (run {held.run_id} on {held.host}, pid {held.pid}, "
        f"release {held.release or '-'}) until {held.expires_at.isoformat()}"
    )


class MigrationLock:
    def __init__(
        self,
        db: Any,
        *,
        run_id: str,
        actor: str,
        release: str | None,
        lease: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.db, self.run_id, self.actor, self.release = db, run_id, actor, release
        self.lease, self.clock = lease, clock
        self.ref = db.document(LOCK_PATH)
        self.host = socket.gethostname()
        # update time of our last write to the lock document: a renewal conditional on it
        # fails if anyone else wrote the lock since (fencing without a transaction)
        self.fence: Any = None

    def _lease(self, acquired_at: datetime) -> Lease:
        now = self.clock()
        return Lease(
            run_id=self.run_id,
            actor=self.actor,
            host=self.host,
            pid=os.getpid(),
            release=self.release,
            acquired_at=acquired_at,
            expires_at=now + self.lease,
        )

    def _held(self, transaction: Any) -> Lease | None:
        snap = self.ref.get(transaction=transaction)
        return Lease.model_validate(snap.to_dict()) if snap.exists else None

    def try_acquire(self) -> None:
        from google.cloud import firestore

        @firestore.transactional
        def take(transaction: Any) -> None:
            held = self._held(transaction)
            mine = held is not None and held.run_id == self.run_id
            if held is not None and not mine and not may_take(held, self.clock(), self.host):
                raise LockHeld(describe(held))
            transaction.set(self.ref, self._lease(self.clock()).to_doc())

        take(self.db.transaction())
        self.fence = self.ref.get().update_time

    def acquire(self, wait_s: float) -> None:
        """Take the lock, waiting up to `wait_s` seconds for a running holder to finish."""
        if wait_s <= 0:
            self.try_acquire()
            return
        retrying = Retrying(
            retry=retry_if_exception_type(LockHeld),
            stop=stop_after_delay(wait_s),
            wait=wait_random(0.2, 1.0),
            reraise=True,
        )
        retrying(self.try_acquire)

    def renew_with(self, writes: list[tuple[Any, dict[str, Any]]]) -> None:
        """Commit `writes` (ref, field updates) atomically with a lease renewal that only
        succeeds if the lock is still exactly as this run last wrote it (one round trip)."""
        from google.api_core.exceptions import FailedPrecondition, NotFound

        batch = self.db.batch()
        expires = {"expiresAt": self.clock() + self.lease}
        batch.update(self.ref, expires, option=self.db.write_option(last_update_time=self.fence))
        for ref, fields in writes:
            batch.update(ref, fields)
        try:
            results = batch.commit()
        except (FailedPrecondition, NotFound):
            raise LockLost(
                "migration lock lost (lease ran out and another run took it): stopping"
            ) from None
        self.fence = results[0].update_time

    def release_lock(self) -> None:
        from google.cloud import firestore

        @firestore.transactional
        def drop(transaction: Any) -> None:
            held = self._held(transaction)
            if held is not None and held.run_id == self.run_id:
                transaction.delete(self.ref)

        drop(self.db.transaction())
