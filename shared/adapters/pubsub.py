"""Publishing to Pub/Sub: release events (for notifications) and commands (from the CLI)."""

from __future__ import annotations

from typing import Any

from shared.domain.effects import BreachAlert, ReleaseEvent
from shared.domain.messages import MonitoringTick
from shared.domain.operations import Operation
from shared.topics import MONITORING_TICKS

PUBLISH_TIMEOUT_S = 30.0


def _client() -> Any:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # heavy: import on use

    return pubsub_v1.PublisherClient()


class Publisher:
    """Publishes bytes to a topic of one project; the client is built on first use."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._publisher: Any = None

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        if self._publisher is None:
            self._publisher = _client()
        path = self._publisher.topic_path(self.project, topic)
        message_id: str = self._publisher.publish(path, data, **attributes).result(
            timeout=PUBLISH_TIMEOUT_S
        )
        return message_id


class PubSubEventPublisher:
    """The `EventPublisher` port on the `release-events` topic."""

    def __init__(self, publisher: Publisher, topic: str) -> None:
        self.publisher, self.topic = publisher, topic

    def publish(self, event: ReleaseEvent) -> None:
        self.publisher.publish(
            self.topic,
            event.model_dump_json(by_alias=True).encode(),
            kind="rollout.state",
            key=event.key,
            release=event.release,
            env=event.env,
            state=str(event.to_state),
        )

    def alert(self, alert: BreachAlert) -> None:
        self.publisher.publish(
            self.topic,
            alert.model_dump_json(by_alias=True).encode(),
            kind="monitoring.breach",
            key=alert.key,
            release=alert.release or "",
            env=alert.env,
        )

    def operation(self, operation: Operation) -> None:
        self.publisher.publish(
            self.topic,
            operation.model_dump_json(by_alias=True).encode(),
            kind="operation.finished",
            key=operation.id,
            env=operation.env,
        )


class PubSubTickPublisher:
    """The `TickPublisher` port: one `{"env": E}` tick on `monitoring-ticks`."""

    def __init__(self, publisher: Publisher, topic: str = MONITORING_TICKS) -> None:
        self.publisher, self.topic = publisher, topic

    def publish(self, env: str) -> None:
        self.publisher.publish(
            self.topic, MonitoringTick(env=env).model_dump_json().encode(), env=env
        )
