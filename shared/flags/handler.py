"""`on_flag_written`: judge one write to `featureFlags/{flag}`, record it, notify.

Idempotent: the audit id comes from the event id, so a redelivery finds its entry and only
re-sends the notice (which carries the same dedupe `key`). The write arrives decoded by the
boundary (`shared.entrypoints.guard_flag_write_event`), which dead-letters what cannot be.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.clock import Clock, utcnow
from shared.config import PlaneConfig
from shared.errors import Refused
from shared.flags.audit import AuditEntry
from shared.flags.events import FlagWrite
from shared.flags.guard import Ignore, decide, own_revert_id
from shared.flags.ports import FlagStore, NoticePublisher
from shared.service.ports import DeadLetters

log = logging.getLogger(__name__)


def env_of(plane: PlaneConfig, project: str) -> str:
    for env in plane.environments.values():
        if env.project == project:
            return env.name
    raise Refused(f"project {project!r} belongs to no configured environment")


@dataclass
class FlagGuard:
    """The console-edit guard with its adapters: each env project's flags (`stores`, by
    project id), the notice channel and the dead letters of writes it cannot judge."""

    plane: PlaneConfig
    stores: Callable[[str], FlagStore]
    notices: NoticePublisher
    letters: DeadLetters
    clock: Clock = utcnow

    def handle(self, write: FlagWrite) -> AuditEntry | None:
        env = env_of(self.plane, write.project)
        return guard_flag_write(
            write, env=env, store=self.stores(write.project), notices=self.notices, now=self.clock()
        )


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
