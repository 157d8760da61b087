"""`on_flag_written`: judge one write to `featureFlags/{flag}`, record it, notify.

Idempotent: the audit id comes from the event id, so a redelivery finds its entry and only
re-sends the notice (which carries the same dedupe `key`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from shared.flags.audit import AuditEntry
from shared.flags.events import FlagWrite
from shared.flags.guard import Ignore, decide, own_revert_id
from shared.flags.ports import FlagStore, NoticePublisher

log = logging.getLogger(__name__)


def guard_flag_write(
    write: FlagWrite, *, env: str, store: FlagStore, notices: NoticePublisher, now: datetime
) -> AuditEntry | None:
    revert_id = own_revert_id(write)
    revert = store.audit_entry(write.flag, revert_id) if revert_id else None
    decision = decide(write, env=env, now=now, revert=revert)
    if isinstance(decision, Ignore):
        log.info("flag %s write ignored: %s", write.flag, decision.why, extra={"env": env})
        return None
    stored = store.record(decision.entry, decision.restore)
    log.info(
        "flag %s %s by %s %s",
        write.flag,
        stored.action,
        stored.actor,
        stored.reason,
        extra={"env": env, "event_id": write.event_id},
    )
    if stored.notice_kind() is not None:
        notices.publish(stored)
    return stored
