"""What every Pub/Sub-triggered function does: unwrap, decode, hand to the bus.

A message that can never be valid is dead-lettered and acknowledged (the function returns
normally, so Pub/Sub gets a 2xx); any other exception escapes, and Pub/Sub redelivers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from shared.domain.builds import parse_build
from shared.domain.commands import parse_command
from shared.domain.messages import BuildStatusChanged, MonitoringTick
from shared.errors import Refused
from shared.service.messagebus import MessageBus
from shared.service.ports import Processed
from shared.transport import PubSubMessage, unwrap

Decode = Callable[[PubSubMessage], object]
log = logging.getLogger(__name__)


def decode_command(msg: PubSubMessage) -> object:
    return parse_command(msg.data)


def decode_build(msg: PubSubMessage) -> object:
    return BuildStatusChanged(build=parse_build(msg.data, msg.attributes))


def decode_tick(msg: PubSubMessage) -> object:
    from pydantic import ValidationError

    try:
        return MonitoringTick.model_validate_json(msg.data or b"{}")
    except ValidationError as exc:
        raise Refused(f"monitoring tick: {exc.errors()[0]['msg']}") from None


def deliver(bus: MessageBus, event_id: str, data: Any, *, topic: str, decode: Decode) -> Processed:
    start = time.perf_counter()
    record = _deliver(bus, event_id, data, topic=topic, decode=decode)
    log.info(
        "delivered: %s",
        record.outcome,
        extra={
            "event_id": event_id,
            "topic": topic,
            "release": record.release,
            "env": record.env,
            "elapsed_ms": round((time.perf_counter() - start) * 1000, 2),
        },
    )
    return record


def _deliver(bus: MessageBus, event_id: str, data: Any, *, topic: str, decode: Decode) -> Processed:
    try:
        message = unwrap(event_id, data)
    except Refused as exc:
        return bus.refuse(
            exc.reason, event_id=event_id, topic=topic, payload=raw_bytes(data), attributes={}
        )
    try:
        typed = decode(message)
    except Refused as exc:
        return bus.refuse(
            exc.reason,
            event_id=event_id,
            topic=topic,
            payload=message.data,
            attributes=message.attributes,
        )
    return bus.handle(
        typed, event_id=event_id, topic=topic, payload=message.data, attributes=message.attributes
    )


def raw_bytes(data: Any) -> bytes:
    """A CloudEvent's data as bytes, whatever the transport made of it (for dead letters)."""
    return data if isinstance(data, bytes) else str(data).encode()


class Consumer(Protocol):
    """A Pub/Sub consumer outside the release bus (notifications, metrics)."""

    def refuse(
        self, event_id: str, reason: str, payload: bytes, attributes: dict[str, str]
    ) -> object: ...

    def handle(self, message: PubSubMessage) -> object: ...


def consume(consumer: Consumer, event_id: str, data: Any) -> None:
    """Unwrap the Pub/Sub message and hand it over; a broken envelope is dead-lettered."""
    try:
        message = unwrap(event_id, data)
    except Refused as exc:
        consumer.refuse(event_id, exc.reason, raw_bytes(data), {})
        return
    consumer.handle(message)
