"""Topics and subscriptions: create what is missing, leave what exists (idempotent)."""

from __future__ import annotations

import contextlib
from typing import Any

from google.api_core.exceptions import AlreadyExists


def ensure_topic(publisher: Any, project: str, topic: str) -> str:
    path: str = publisher.topic_path(project, topic)
    with contextlib.suppress(AlreadyExists):
        publisher.create_topic(request={"name": path})
    return path


def ensure_push_subscription(
    subscriber: Any, project: str, topic: str, name: str, endpoint: str, *, ack_deadline: int = 60
) -> str:
    """A push subscription delivering `topic` to `endpoint` (a functions-framework server)."""
    path: str = subscriber.subscription_path(project, name)
    push_config = {"push_endpoint": endpoint}
    try:
        subscriber.create_subscription(
            request={
                "name": path,
                "topic": f"projects/{project}/topics/{topic}",
                "push_config": push_config,
                "ack_deadline_seconds": ack_deadline,
            }
        )
    except AlreadyExists:
        # A restarted server listens on a new port: point the subscription at it.
        subscriber.modify_push_config(request={"subscription": path, "push_config": push_config})
    return path


def ensure_pull_subscription(subscriber: Any, project: str, topic: str, name: str) -> str:
    path: str = subscriber.subscription_path(project, name)
    with contextlib.suppress(AlreadyExists):
        subscriber.create_subscription(
            request={"name": path, "topic": f"projects/{project}/topics/{topic}"}
        )
    return path
