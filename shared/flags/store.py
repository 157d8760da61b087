"""Firestore adapter: one environment's `featureFlags/{flag}` and `…/audit/{id}`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore

from shared.flags.audit import AuditEntry
from shared.flags.events import COLLECTION, timestamp_ns
from shared.flags.guard import FlagRevert
from shared.flags.model import Flag, check_transition, parse_flag
from shared.flags.ports import Change

AUDIT = "audit"
SUPERSEDED = "not reverted: the flag was written again since; that write is judged on its own"


class FirestoreFlagStore:
    def __init__(self, db: firestore.Client) -> None:
        self.db = db

    def _ref(self, flag: str) -> Any:
        return self.db.collection(COLLECTION).document(flag)

    def _audit_ref(self, flag: str, audit_id: str) -> Any:
        return self._ref(flag).collection(AUDIT).document(audit_id)

    def all_docs(self) -> dict[str, dict[str, Any]]:
        return {s.id: s.to_dict() or {} for s in self.db.collection(COLLECTION).stream()}

    def get_doc(self, flag: str) -> dict[str, Any] | None:
        snap = self._ref(flag).get()
        return (snap.to_dict() or {}) if snap.exists else None

    def audit_entry(self, flag: str, audit_id: str) -> AuditEntry | None:
        snap = self._audit_ref(flag, audit_id).get()
        return _entry(snap) if snap.exists else None

    def audit_log(self, flag: str, limit: int) -> list[AuditEntry]:
        query = (
            self._ref(flag)
            .collection(AUDIT)
            .order_by("at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [_entry(s) for s in query.stream()]

    def record(self, entry: AuditEntry, restore: FlagRevert | None) -> AuditEntry:
        ref, audit_ref = self._ref(entry.flag), self._audit_ref(entry.flag, entry.id)

        @firestore.transactional
        def run(tx: Any) -> AuditEntry:
            done = audit_ref.get(transaction=tx)
            current = ref.get(transaction=tx) if restore is not None else None
            if done.exists:
                return _entry(done)  # a redelivery: already judged
            stored = entry
            if restore is not None and current is not None:
                stored = _restore(tx, ref, current, entry, restore)
            tx.set(audit_ref, stored.to_doc())
            return stored

        result: AuditEntry = run(self.db.transaction())
        return result

    def note_versions(self, flag: str, audit_id: str, versions: dict[str, int]) -> None:
        self._audit_ref(flag, audit_id).set({"templateVersions": versions}, merge=True)

    def change(self, flag: str, change: Change, actor: str, now: datetime) -> Flag:
        ref = self._ref(flag)

        @firestore.transactional
        def run(tx: Any) -> Flag:
            snap = ref.get(transaction=tx)
            current = parse_flag(flag, snap.to_dict() or {}) if snap.exists else None
            changed = change(current).model_copy(update={"updated_by": actor, "updated_at": now})
            new = parse_flag(flag, changed.to_doc())  # model_copy skips validation: redo it
            check_transition(flag, current, new)
            tx.set(ref, new.to_doc())
            return new

        result: Flag = run(self.db.transaction())
        return result


def _restore(tx: Any, ref: Any, current: Any, entry: AuditEntry, restore: FlagRevert) -> AuditEntry:
    current_ns = timestamp_ns(current.update_time) if current.exists else None
    if current_ns != restore.expect_update_ns:
        return entry.model_copy(
            update={
                "action": "superseded",
                "reason": f"{entry.reason}; {SUPERSEDED}",
                "wrote": None,
            }
        )
    if restore.doc is None:
        tx.delete(ref)
    else:
        tx.set(ref, restore.doc)
    return entry


def _entry(snap: Any) -> AuditEntry:
    return AuditEntry.model_validate({**(snap.to_dict() or {}), "id": snap.id})
