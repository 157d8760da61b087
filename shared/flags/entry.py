"""What `functions/main.py:on_flag_written` calls: decode, resolve the env, run the guard.

A write that can never be judged (not a flag document, a project no environment uses) is
logged and acknowledged; anything else that fails raises, so the trigger retries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from shared.config import PlaneConfig, Settings
from shared.errors import Refused
from shared.flags.audit import AuditEntry
from shared.flags.events import decode_flag_write
from shared.flags.handler import guard_flag_write
from shared.flags.notices import PubSubFlagNotices
from shared.flags.store import FirestoreFlagStore

log = logging.getLogger(__name__)


@cache
def _settings() -> Settings:
    return Settings()


@cache
def _store(project: str) -> FirestoreFlagStore:
    from google.cloud import firestore

    return FirestoreFlagStore(firestore.Client(project=project))


@cache
def _notices() -> PubSubFlagNotices:
    from shared.adapters.pubsub import Publisher

    settings = _settings()
    return PubSubFlagNotices(Publisher(settings.project), settings.release_events_topic)


def env_of(plane: PlaneConfig, project: str) -> str:
    for env in plane.environments.values():
        if env.project == project:
            return env.name
    raise Refused(f"project {project!r} belongs to no configured environment")


def handle_flag_event(attributes: Mapping[str, Any], data: Any) -> AuditEntry | None:
    try:
        write = decode_flag_write(attributes, data)
        if not write.event_id:
            raise Refused("Firestore event without an id")
        env = env_of(_settings().plane, write.project)
    except Refused as exc:
        log.error("flag write refused: %s", exc.reason, extra={"event_id": attributes.get("id")})
        return None
    return guard_flag_write(
        write, env=env, store=_store(write.project), notices=_notices(), now=datetime.now(UTC)
    )
