"""What the guard records (`featureFlags/{flag}/audit/{id}`) and publishes (`release-events`)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.flags import values
from shared.redaction import redact

Action = Literal["created", "changed", "deleted", "reverted", "superseded", "publish_failed"]
GUARD_ACTOR = "flag-guard"
# The guard signs its own revert in `updatedBy`, naming the audit entry that explains it.
_TOKEN = re.compile(r"^flag-guard \(revert ([A-Za-z0-9_.-]{1,200})\)$")
MAX_AUDIT_JSON = 100_000  # a pasted giant list must not push the entry over Firestore's 1 MiB


def entry_id(event_id: str) -> str:
    """A document id from an event id: stable across redeliveries, safe for Firestore."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", event_id)[:200] or "event"


def guard_token(audit_id: str) -> str:
    return f"{GUARD_ACTOR} (revert {audit_id})"


def token_audit_id(updated_by: Any) -> str | None:
    match = _TOKEN.match(updated_by) if isinstance(updated_by, str) else None
    return match.group(1) if match else None


def audit_value(doc: dict[str, Any] | None) -> dict[str, Any] | str | None:
    if doc is None:
        return None
    plain = values.to_plain(doc)
    text = json.dumps(plain, default=str)
    return plain if len(text) <= MAX_AUDIT_JSON else text[:MAX_AUDIT_JSON] + "…(truncated)"


class AuditEntry(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    id: str
    flag: str
    env: str
    project: str
    action: Action
    actor: str
    reason: str = ""
    changes: list[str] = Field(default_factory=list)
    before: dict[str, Any] | str | None = None
    after: dict[str, Any] | str | None = None
    wrote: dict[str, Any] | None = None  # what the guard wrote back (reverts only)
    # Remote Config template versions (namespace → number) that deliver this change
    template_versions: dict[str, int] | None = None
    event_id: str
    at: datetime

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude={"id"})

    def notice_kind(self) -> str | None:
        return {"reverted": "flag.reverted", "superseded": None}.get(self.action, "flag.changed")

    def notice(self) -> bytes:
        """The `release-events` body: dedupe `key` plus the contract fields, secrets scrubbed."""
        body = {
            "key": f"flag/{self.project}/{self.flag}/{self.id}",
            "kind": self.notice_kind(),
            "flag": self.flag,
            "env": self.env,
            "project": self.project,
            "actor": self.actor,
            "action": self.action,
            "reason": self.reason,
            "changes": self.changes,
            "before": self.before,
            "after": self.after,
            "at": self.at.isoformat(),
            "eventId": self.event_id,
        }
        return redact(json.dumps(body, default=str, sort_keys=True)).encode()
