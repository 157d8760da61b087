"""Flag notices on `release-events` (kind `flag.changed` / `flag.reverted`)."""

from __future__ import annotations

from shared.adapters.pubsub import Publisher
from shared.flags.audit import AuditEntry


class PubSubFlagNotices:
    def __init__(self, publisher: Publisher, topic: str) -> None:
        self.publisher, self.topic = publisher, topic

    def publish(self, entry: AuditEntry) -> None:
        kind = entry.notice_kind()
        if kind is None:
            return
        self.publisher.publish(
            self.topic,
            entry.notice(),
            kind=kind,
            key=f"flag/{entry.project}/{entry.flag}/{entry.id}",
            flag=entry.flag,
            env=entry.env,
        )
