"""Who was told what: one Firestore record per notice and channel, created before sending.

`notifications/{key}:{channel}` is created with create-if-absent, so of three concurrent
copies of an event exactly one sends. A claim left in `sending` by a crash is taken over by a
later delivery once it is stale (with an update-time precondition, so only one takes it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from shared.domain.model import Doc

NOTIFICATIONS = "notifications"
Status = Literal["sending", "sent", "rejected", "failed", "misconfigured"]


class Delivery(Doc):
    """The record of one notice on one channel."""

    key: str
    channel: str
    kind: str
    env: str
    release: str | None = None
    event_id: str
    status: Status
    claimed_at: datetime
    finished_at: datetime | None = None
    attempts: int = 0
    http_status: int | None = None
    error: str | None = None


def doc_id(key: str, channel: str) -> str:
    # Firestore ids may not contain `/`; `|` never appears in our keys.
    return f"{key.replace('/', '|')}:{channel}"


def _errors() -> tuple[type[Exception], type[Exception]]:
    from google.api_core import exceptions

    return exceptions.AlreadyExists, exceptions.FailedPrecondition


class FirestoreSentLog:
    def __init__(self, db: Any) -> None:
        self.db = db

    def _ref(self, record: Delivery) -> Any:
        return self.db.collection(NOTIFICATIONS).document(doc_id(record.key, record.channel))

    def claim(self, record: Delivery, stale_after: timedelta) -> bool:
        already_exists, failed_precondition = _errors()
        ref = self._ref(record)
        try:
            ref.create(record.to_doc())
            return True
        except already_exists:
            pass
        snap = ref.get()
        if not snap.exists:  # deleted by hand in between: claim again
            return self.claim(record, stale_after)
        held = Delivery.model_validate(snap.to_dict())
        if held.status != "sending" or record.claimed_at - held.claimed_at < stale_after:
            return False
        try:
            option = self.db.write_option(last_update_time=snap.update_time)
            ref.update(record.to_doc(), option=option)
        except failed_precondition:
            return False  # another delivery took the stale claim first
        return True

    def finish(self, record: Delivery) -> None:
        self._ref(record).set(record.to_doc())
