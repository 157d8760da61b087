"""From a `release-events` message to a `Notice`: pure, no I/O.

Routing is on the `kind` attribute: `rollout.state` (the core's `ReleaseEvent`),
`flag.reverted` / `flag.changed` (the flags service), `monitoring.breach` (bake analysis),
`secret.exposed` (`releasectl secrets exposed`) and `operation.finished` (a backup, or a flag
change that failed).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain.commands import describe
from shared.domain.effects import BreachAlert, ReleaseEvent
from shared.domain.operations import Operation
from shared.domain.states import State
from shared.errors import Refused
from shared.transport import PubSubMessage

Severity = Literal["info", "success", "warning", "danger"]
ROLLOUT, FLAG_REVERTED, FLAG_CHANGED, BREACH, SECRET_EXPOSED, OPERATION = (
    "rollout.state",
    "flag.reverted",
    "flag.changed",
    "monitoring.breach",
    "secret.exposed",
    "operation.finished",
)
MESSAGE_KINDS = (ROLLOUT, FLAG_REVERTED, FLAG_CHANGED, BREACH, SECRET_EXPOSED, OPERATION)


class NoticeKind(StrEnum):
    """What a notification is about: the unit of routing and of deduplication."""

    STARTED = "started"
    AWAITING_APPROVAL = "awaiting_approval"
    BLOCKED = "blocked"
    REJECTED = "rejected"
    MIGRATING = "migrating"
    DEPLOYING = "deploying"
    VERIFYING = "verifying"
    BAKING = "baking"
    LIVE = "live"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    FLAG_REVERTED = "flag_reverted"
    FLAG_CHANGED = "flag_changed"
    MONITORING_BREACH = "monitoring_breach"
    SECRET_EXPOSED = "secret_exposed"  # noqa: S105  # nosec B105 -- an event kind, not a password
    BACKUP_TAKEN = "backup_taken"
    BACKUP_RESTORED = "backup_restored"
    OPERATION_FAILED = "operation_failed"


# `pending` and `gating` are both "the rollout started": one notice, not two.
_STATE_KIND = {s: NoticeKind(s.value) for s in State if s.value in NoticeKind.__members__.values()}
_STATE_KIND |= {State.PENDING: NoticeKind.STARTED, State.GATING: NoticeKind.STARTED}
SEVERITY: dict[NoticeKind, Severity] = {
    NoticeKind.LIVE: "success",
    NoticeKind.ROLLED_BACK: "warning",
    NoticeKind.AWAITING_APPROVAL: "warning",
    NoticeKind.FLAG_REVERTED: "warning",
    NoticeKind.ROLLING_BACK: "warning",
    NoticeKind.BLOCKED: "danger",
    NoticeKind.FAILED: "danger",
    NoticeKind.REJECTED: "danger",
    NoticeKind.ROLLBACK_FAILED: "danger",
    NoticeKind.MONITORING_BREACH: "danger",
    NoticeKind.SECRET_EXPOSED: "danger",
    NoticeKind.BACKUP_TAKEN: "success",
    NoticeKind.BACKUP_RESTORED: "warning",
    NoticeKind.OPERATION_FAILED: "danger",
}


class Notice(BaseModel):
    """One thing to tell people about, whatever the channel."""

    model_config = ConfigDict(frozen=True)

    key: str  # the same for every copy of the same change: the dedupe key
    kind: NoticeKind
    env: str
    release: str | None = None
    attempt: int | None = None
    subject: str | None = None  # the flag, metric or secret a notice is about
    actor: str | None = None
    reason: str | None = None
    at: datetime
    facts: tuple[tuple[str, str], ...] = ()

    @property
    def severity(self) -> Severity:
        return SEVERITY.get(self.kind, "info")


class Ignored(BaseModel):
    """A message we do not notify about (unknown kind): logged and acknowledged."""

    reason: str


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class FlagEvent(_Body):
    key: str = Field(min_length=1, max_length=500)
    flag: str
    env: str
    project: str
    actor: str
    reason: str | None = None
    before: Any = None
    after: Any = None
    at: datetime


class SecretExposedEvent(_Body):
    """`releasectl secrets exposed`: a secret leaked; its owner and the on-call must act."""

    key: str = Field(min_length=1, max_length=500)
    secret: str
    env: str
    owner: str | None = None
    actor: str
    reason: str
    at: datetime


def _compact(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse(
    model: type[_Body] | type[ReleaseEvent] | type[BreachAlert] | type[Operation],
    kind: str,
    data: bytes,
) -> Any:
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"{kind}: malformed JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise Refused(f"{kind}: the body must be a JSON object, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise Refused(f"{kind}: {describe(exc)}") from None


def from_rollout(event: ReleaseEvent) -> Notice | Ignored:
    kind = _STATE_KIND.get(event.to_state)
    if kind is None:  # pragma: no cover - every state maps; kept for states added later
        return Ignored(reason=f"rollout state {event.to_state} is not notified")
    return Notice(
        key=f"{event.release}/{event.env}/{event.attempt}/{kind}",
        kind=kind,
        env=event.env,
        release=event.release,
        attempt=event.attempt,
        actor=event.actor,
        reason=event.reason,
        at=event.at,
        facts=(("from", str(event.from_state or "-")), ("to", str(event.to_state))),
    )


def from_flag(event: FlagEvent, kind: NoticeKind) -> Notice:
    return Notice(
        key=f"flag/{event.key}/{kind}",
        kind=kind,
        env=event.env,
        subject=event.flag,
        actor=event.actor,
        reason=event.reason,
        at=event.at,
        facts=(
            ("flag", event.flag),
            ("project", event.project),
            ("before", _compact(event.before)),
            ("after", _compact(event.after)),
        ),
    )


def from_breach(event: BreachAlert) -> Notice:
    facts = [("metric", event.metric)] if event.metric else []
    facts += [(str(k), _compact(v, 200)) for k, v in list(event.evidence.items())[:8]]
    return Notice(
        key=f"breach/{event.key}",
        kind=NoticeKind.MONITORING_BREACH,
        env=event.env,
        release=event.release,
        subject=event.metric,
        reason=event.reason,
        at=event.at,
        facts=tuple(facts),
    )


def from_exposure(event: SecretExposedEvent) -> Notice:
    return Notice(
        key=f"exposed/{event.key}",
        kind=NoticeKind.SECRET_EXPOSED,
        env=event.env,
        subject=event.secret,
        actor=event.actor,
        reason=event.reason,
        at=event.at,
        facts=(("secret", event.secret), ("owner", event.owner or "-")),
    )


def from_operation(op: Operation) -> Notice:
    """A backup taken or restored, or a flag change or backup that failed."""
    kind = NoticeKind.BACKUP_RESTORED if op.kind == "backup.restore" else NoticeKind.BACKUP_TAKEN
    if op.status == "failed":
        kind = NoticeKind.OPERATION_FAILED
    return Notice(
        key=f"operation/{op.id}",
        kind=kind,
        env=op.env,
        subject=op.asked,
        actor=op.actor,
        reason=op.reason or None,
        at=op.finished_at or op.requested_at,
        facts=(("command", op.kind), ("status", op.status), ("result", op.result[:300])),
    )


# The dedupe key names a Firestore document (`notifications/{key}:{channel}`, ids ≤ 1,500 bytes).
KEY_CAP = 500


def decode(msg: PubSubMessage) -> Notice | Ignored:
    """The notice a message asks for; `Ignored` for kinds we do not know; `Refused` if bad."""
    notice = _decode(msg)
    if isinstance(notice, Notice) and len(notice.key.encode()) > KEY_CAP:
        raise Refused(f"release event: its key is over {KEY_CAP} bytes")
    return notice


def _decode(msg: PubSubMessage) -> Notice | Ignored:
    kind = msg.attributes.get("kind")
    if not kind:
        raise Refused("release event has no `kind` attribute")
    if kind == ROLLOUT:
        return from_rollout(_parse(ReleaseEvent, kind, msg.data))
    if kind in (FLAG_REVERTED, FLAG_CHANGED):
        notice_kind = NoticeKind.FLAG_REVERTED if kind == FLAG_REVERTED else NoticeKind.FLAG_CHANGED
        return from_flag(_parse(FlagEvent, kind, msg.data), notice_kind)
    if kind == BREACH:
        return from_breach(_parse(BreachAlert, kind, msg.data))
    if kind == SECRET_EXPOSED:
        return from_exposure(_parse(SecretExposedEvent, kind, msg.data))
    if kind == OPERATION:
        return from_operation(_parse(Operation, kind, msg.data))
    return Ignored(reason=f"unknown event kind {kind!r} (known: {', '.join(MESSAGE_KINDS)})")
