"""The console-edit guard's decision for one write to `featureFlags/{flag}`. Pure.

An invalid edit is reverted to the previous value (or, if that is invalid too, to the flag's
safe default); a valid one is accepted and audited. The guard's own revert comes back as an
event too: it carries the guard's token in `updatedBy` and is ignored, so nothing loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.flags import catalog
from shared.flags.audit import AuditEntry, audit_value, entry_id, guard_token, token_audit_id
from shared.flags.events import FlagWrite
from shared.flags.model import Flag, FlagInvalid, check_transition, parse_flag

UNKNOWN_ACTOR = "console (user unknown)"


@dataclass(frozen=True)
class Ignore:
    why: str


@dataclass(frozen=True)
class Record:
    """Write `entry`; if `restore` is set, first put the flag document back to `restore.doc`."""

    entry: AuditEntry
    restore: FlagRevert | None = None


@dataclass(frozen=True)
class FlagRevert:
    doc: dict[str, Any] | None  # None: delete the document (an invalid create)
    expect_update_ns: int | None  # only if the document is still the version judged


Decision = Ignore | Record


def own_revert_id(write: FlagWrite) -> str | None:
    """The audit id named by a guard token this write introduced (None if not the guard's)."""
    after_id = token_audit_id((write.after or {}).get("updatedBy"))
    before_id = token_audit_id((write.before or {}).get("updatedBy"))
    return after_id if after_id is not None and after_id != before_id else None


def decide(write: FlagWrite, *, env: str, now: datetime, revert: AuditEntry | None) -> Decision:
    """`revert`: the audit entry named by the write's guard token, if one exists."""
    if revert is not None and _is_echo(write, revert):
        return Ignore("the guard's own revert")
    if write.before == write.after:
        return Ignore("nothing changed")
    if write.after is None and _valid_or_none(write.flag, write.before) is None:
        # An invalid document going away (also the echo of reverting an invalid create).
        return Ignore("an invalid document was deleted")
    entry = AuditEntry(
        id=entry_id(write.event_id),
        flag=write.flag,
        env=env,
        project=write.project,
        action="changed",
        actor=_actor(write),
        changes=changed_fields(write.before, write.after),
        before=audit_value(write.before),
        after=audit_value(write.after),
        event_id=write.event_id,
        at=now,
    )
    problem = _problem(write)
    if problem is None:
        action = (
            "created" if write.before is None else "deleted" if write.after is None else "changed"
        )
        return Record(entry.model_copy(update={"action": action}))
    doc = _restore_doc(write, entry.id, now)
    reason = f"invalid edit reverted: {problem}"
    entry = entry.model_copy(update={"action": "reverted", "reason": reason, "wrote": doc})
    return Record(entry, FlagRevert(doc, write.after_update_ns))


def _action(write: FlagWrite) -> str:
    if write.before is None:
        return "created"
    return "deleted" if write.after is None else "changed"


def _is_echo(write: FlagWrite, revert: AuditEntry) -> bool:
    wrote = revert.wrote or {}
    after = write.after or {}
    # Same flag content as the guard wrote; who/when may be timestamps of other precision.
    keys = (set(wrote) | set(after)) - {"updatedAt"}
    return revert.action == "reverted" and all(wrote.get(k) == after.get(k) for k in keys)


def _problem(write: FlagWrite) -> str | None:
    try:
        before = _valid_or_none(write.flag, write.before)
        after = parse_flag(write.flag, write.after) if write.after is not None else None
        check_transition(write.flag, before, after)
    except FlagInvalid as exc:
        return exc.reason
    return None


def _valid_or_none(name: str, doc: dict[str, Any] | None) -> Flag | None:
    if doc is None:
        return None
    try:
        return parse_flag(name, doc)
    except FlagInvalid:
        return None  # an already-invalid previous value cannot vouch for anything


def _restore_doc(write: FlagWrite, audit_id: str, now: datetime) -> dict[str, Any] | None:
    if write.before is None:
        return None  # an invalid create: the flag did not exist before
    before = _valid_or_none(write.flag, write.before)
    base = before.to_doc() if before else catalog.safe_default(write.flag)
    return {**base, "updatedBy": guard_token(audit_id), "updatedAt": now}


def _actor(write: FlagWrite) -> str:
    if write.auth_id:
        return write.auth_id
    after, before = write.after or {}, write.before or {}
    by = after.get("updatedBy")
    stamped = by != before.get("updatedBy") or after.get("updatedAt") != before.get("updatedAt")
    if isinstance(by, str) and by and stamped:
        return by  # the writer signed this very edit (the CLI stamps updatedBy and updatedAt)
    return UNKNOWN_ACTOR  # a console edit that left the last signature in place


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    b, a = before or {}, after or {}
    return sorted(k for k in set(b) | set(a) if b.get(k, _MISSING) != a.get(k, _MISSING))


_MISSING = object()
