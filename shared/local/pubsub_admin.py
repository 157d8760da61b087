"""Topics and subscriptions: create what is missing, bring what exists to what is asked
(idempotent)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import AlreadyExists

from shared.topics import MAX_DELIVERY_ATTEMPTS


@dataclass(frozen=True)
class Backoff:
    """A subscription's retry policy: the delay between redeliveries of a refused message
    grows from `minimum_s` to `maximum_s` (Pub/Sub's exponential backoff)."""

    minimum_s: int
    maximum_s: int

    def policy(self) -> dict[str, Any]:
        return {
            "minimum_backoff": {"seconds": self.minimum_s},
            "maximum_backoff": {"seconds": self.maximum_s},
        }


def ensure_topic(publisher: Any, project: str, topic: str) -> str:
    path: str = publisher.topic_path(project, topic)
    with contextlib.suppress(AlreadyExists):
        publisher.create_topic(request={"name": path})
    return path


def ensure_push_subscription(
    subscriber: Any,
    project: str,
    topic: str,
    name: str,
    endpoint: str,
    *,
    ack_deadline: int = 60,
    dead_letter_topic: str | None = None,
    max_delivery_attempts: int = MAX_DELIVERY_ATTEMPTS,
    backoff: Backoff | None = None,
) -> str:
    """A push subscription delivering `topic` to `endpoint` (a functions-framework server);
    with `dead_letter_topic`, a message refused `max_delivery_attempts` times goes there."""
    path: str = subscriber.subscription_path(project, name)
    fields: dict[str, Any] = {
        "push_config": {"push_endpoint": endpoint},
        "ack_deadline_seconds": ack_deadline,
    }
    if dead_letter_topic is not None:
        fields["dead_letter_policy"] = {
            "dead_letter_topic": f"projects/{project}/topics/{dead_letter_topic}",
            "max_delivery_attempts": max_delivery_attempts,
        }
    if backoff is not None:
        fields["retry_policy"] = backoff.policy()
    try:
        subscriber.create_subscription(
            request={"name": path, "topic": f"projects/{project}/topics/{topic}", **fields}
        )
    except AlreadyExists:
        # A server restarted elsewhere, or a subscription made before it had a dead-letter
        # policy: update it in place (deleting it would drop the messages it holds).
        subscriber.update_subscription(
            request={"subscription": {"name": path, **fields}, "update_mask": {"paths": [*fields]}}
        )
    return path


def ensure_pull_subscription(subscriber: Any, project: str, topic: str, name: str) -> str:
    path: str = subscriber.subscription_path(project, name)
    with contextlib.suppress(AlreadyExists):
        subscriber.create_subscription(
            request={"name": path, "topic": f"projects/{project}/topics/{topic}"}
        )
    return path
