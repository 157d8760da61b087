"""The per-env analysis lease in Firestore: `metrics/{env}` field `detection`
(`holder`, `until`, `pending`, `lastRun`).

Contention stays low however many instances report: a batch that finds the lease held and
already marked pending returns after one read, with no write and no transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.monitoring.store import METRICS

FIELD = "detection"


class FirestoreDetectionLease:
    def __init__(self, db: Any) -> None:
        self.db = db

    def _ref(self, env: str) -> Any:
        return self.db.collection(METRICS).document(env)

    @staticmethod
    def _state(snap: Any) -> dict[str, Any]:
        return dict((snap.to_dict() or {}).get(FIELD) or {}) if snap.exists else {}

    def _held_by_other(self, state: dict[str, Any], holder: str, now: datetime) -> bool:
        until = state.get("until")
        return state.get("holder") not in (None, holder) and until is not None and until > now

    def acquire(
        self, env: str, holder: str, now: datetime, until: datetime
    ) -> tuple[bool, datetime | None]:
        from google.cloud import firestore

        ref = self._ref(env)
        seen = self._state(ref.get())
        if self._held_by_other(seen, holder, now) and seen.get("pending"):
            return False, None  # the holder already knows to run again

        @firestore.transactional
        def take(tx: Any) -> tuple[bool, datetime | None]:
            state = self._state(ref.get(transaction=tx))
            if self._held_by_other(state, holder, now):
                tx.set(ref, {FIELD: {"pending": True}}, merge=True)
                return False, None
            new = {"holder": holder, "until": until, "pending": False}
            tx.set(ref, {FIELD: new}, merge=True)
            return True, state.get("lastRun")

        result: tuple[bool, datetime | None] = take(self.db.transaction())
        return result

    def finish(self, env: str, holder: str, ran_at: datetime, until: datetime) -> bool:
        from google.cloud import firestore

        ref = self._ref(env)

        @firestore.transactional
        def done(tx: Any) -> bool:
            state = self._state(ref.get(transaction=tx))
            if state.get("holder") != holder:
                return False  # lost the lease (it lapsed): the new holder runs
            again = bool(state.get("pending"))
            new = {
                "holder": holder if again else None,
                "until": until if again else None,
                "pending": False,
                "lastRun": ran_at,
            }
            tx.set(ref, {FIELD: new}, merge=True)
            return again

        again: bool = done(self.db.transaction())
        return again

    def release(self, env: str, holder: str, ran_at: datetime | None) -> None:
        from google.cloud import firestore

        ref = self._ref(env)

        @firestore.transactional
        def let_go(tx: Any) -> None:
            state = self._state(ref.get(transaction=tx))
            if state.get("holder") == holder:
                new: dict[str, Any] = {"holder": None, "until": None}
                if ran_at is not None:
                    new["lastRun"] = ran_at
                tx.set(ref, {FIELD: new}, merge=True)

        let_go(self.db.transaction())
