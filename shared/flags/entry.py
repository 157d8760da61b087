"""What `functions/main.py:on_flag_written` calls: decode, resolve the env, run the guard.

A write that can never be judged (an event that does not decode, not a flag document, a
project no environment uses) is dead-lettered and acknowledged; anything else that fails
raises, so the trigger retries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from typing import Any

from shared.clock import utcnow
from shared.config import PlaneConfig, Settings
from shared.dead_letters import DeadLetters, decoded, refuse
from shared.errors import Refused
from shared.flags.audit import AuditEntry
from shared.flags.events import decode_flag_write
from shared.flags.handler import guard_flag_write
from shared.flags.notices import PubSubFlagNotices
from shared.flags.store import FirestoreFlagStore

log = logging.getLogger(__name__)
# dead letters of the flag guard are filed under its trigger, as Pub/Sub ones under their topic
FLAG_WRITES = "featureFlags"
_KEPT_ATTRIBUTES = ("id", "source", "subject", "type", "time")


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


@cache
def _letters() -> DeadLetters:
    from shared.bootstrap import dead_letters

    return dead_letters(_settings())


def handle_flag_event(
    attributes: Mapping[str, Any], data: Any, letters: DeadLetters | None = None
) -> AuditEntry | None:
    try:
        write = decoded(lambda raw: decode_flag_write(attributes, raw), data, what="flag write")
        if not write.event_id:
            raise Refused("Firestore event without an id")
        env = env_of(_settings().plane, write.project)
    except Refused as exc:
        refuse(
            (letters or _letters()).put,
            exc.reason,
            event_id=str(attributes.get("id") or "unknown"),
            topic=FLAG_WRITES,
            payload=data if isinstance(data, bytes) else str(data).encode(),
            attributes={k: str(v) for k, v in attributes.items() if k in _KEPT_ATTRIBUTES},
            now=utcnow(),
        )
        return None
    return guard_flag_write(
        write, env=env, store=_store(write.project), notices=_notices(), now=utcnow()
    )
