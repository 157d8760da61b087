"""The boundary every Pub/Sub-triggered function goes through: unwrap, decode, hand over.

Decoding is pure, so a message that fails to decode (for any reason: bad JSON, a wrong schema,
JSON nested too deep, an integer too long) can never succeed: it is dead-lettered and
acknowledged at once (the function returns normally, so Pub/Sub gets a 2xx). Any other
exception is transient (Firestore, the network): it is noted against the message and escapes,
so Pub/Sub redelivers; if Pub/Sub gives up, `on_dead_letter` records the message with the
error noted last (`record_exhausted`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.clock import utcnow
from shared.dead_letters import (
    DELIVERY_COUNT,
    DeadLetter,
    DeliveryFailure,
    brief,
    decoded,
    fingerprint,
    letter,
    refuse,
)
from shared.domain.builds import parse_build
from shared.domain.commands import parse_command
from shared.domain.messages import BuildStatusChanged, MonitoringTick
from shared.errors import Refused
from shared.service.messagebus import MessageBus
from shared.service.ports import Consumer, DeadLetters, Processed
from shared.topics import (
    APP_METRICS,
    CLOUD_BUILDS,
    MONITORING_TICKS,
    RELEASE_COMMANDS,
    RELEASE_EVENTS,
    source_topic,
)
from shared.transport import PubSubMessage, unwrap

if TYPE_CHECKING:
    from cloudevents.http import CloudEvent

    from shared.flags.audit import AuditEntry
    from shared.flags.handler import FlagGuard, RemoteConfigGovernor
    from shared.mobile.crashlytics import CrashlyticsAlerts

Decode = Callable[[PubSubMessage], object]
log = logging.getLogger(__name__)


def configure_logging() -> None:
    """JSON log lines Cloud Logging understands (called once by `functions/main.py`)."""
    from shared import log as json_log

    json_log.configure()


# -- one function per target: which topic, which decoder, which handler -----------------------


def release_command(bus: MessageBus, event: CloudEvent) -> Processed:
    return deliver(bus, event["id"], event.data, topic=RELEASE_COMMANDS, decode=decode_command)


def build_event(bus: MessageBus, event: CloudEvent) -> Processed:
    return deliver(bus, event["id"], event.data, topic=CLOUD_BUILDS, decode=decode_build)


def monitoring_tick(bus: MessageBus, event: CloudEvent) -> Processed:
    return deliver(bus, event["id"], event.data, topic=MONITORING_TICKS, decode=decode_tick)


def app_metrics(handler: Consumer, event: CloudEvent) -> None:
    consume(handler, event["id"], event.data, topic=APP_METRICS)


def release_event(notifier: Consumer, event: CloudEvent) -> None:
    consume(notifier, event["id"], event.data, topic=RELEASE_EVENTS)


def flag_written(guard: FlagGuard, event: CloudEvent) -> AuditEntry | None:
    return guard_flag_write_event(guard, event.get_attributes(), event.data)


def remote_config_updated(governor: RemoteConfigGovernor, event: CloudEvent) -> list[AuditEntry]:
    return govern_remote_config_event(governor, event.get_attributes(), event.data)


def crashlytics_alert(alerts: CrashlyticsAlerts, event: CloudEvent) -> str:
    """Eventarc Firebase Alerts (Crashlytics): a velocity alert for a build being rolled out
    halts it; others notify; one that can never be valid is a dead letter."""
    from shared.mobile.alerts import decode_alert

    attributes = event.get_attributes()
    event_id = str(attributes.get("id") or "unknown")
    try:
        alert = decoded(lambda raw: decode_alert(attributes, raw), event.data, what="alert")
        return alerts.handle(event_id, alert)
    except Refused as exc:
        kept = _ALERT_ATTRIBUTES
        _refuse_event(
            alerts.letters, exc, attributes, event.data, FIREBASE_ALERTS, alerts.clock(), kept
        )
        return "refused"


# CloudEvent attributes worth keeping with a refused alert
_ALERT_ATTRIBUTES = ("type", "source", "alerttype", "appid", "time")
FIREBASE_ALERTS = "firebasealerts"


def dead_letter(letters: DeadLetters, event: CloudEvent) -> DeadLetter:
    """The topic is the event's source (`//pubsub.googleapis.com/projects/P/topics/T`)."""
    topic = str(event["source"]).rsplit("/topics/", 1)[-1]
    return record_exhausted(letters, event["id"], event.data, dead_letter_topic=topic)


# -- the boundary ------------------------------------------------------------------------------


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
    with noting_failures(bus.ports.letters, topic, event_id, data, bus.clock):
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
        typed = decoded(decode, message, what=f"{topic} message")
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


@contextmanager
def noting_failures(
    letters: DeadLetters, topic: str, event_id: str, data: Any, clock: Callable[[], datetime]
) -> Iterator[None]:
    """Let a transient failure escape (Pub/Sub redelivers), noting it first, best effort, so that
    the dead letter can name it if the delivery attempts run out."""
    try:
        yield
    except Exception as exc:
        log.exception(
            "delivery failed, Pub/Sub will redeliver: %s",
            brief(exc),
            extra={"event_id": event_id, "topic": topic},
        )
        try:
            message = unwrap(event_id, data)
            key = fingerprint(topic, message.data, message.attributes)
            failure = DeliveryFailure(
                fingerprint=key, topic=topic, event_id=event_id, error=brief(exc), at=clock()
            )
            letters.note_failure(failure)
        except Exception as note_exc:  # the store may be what failed: the error still escapes
            log.warning("failure not noted: %s", brief(note_exc), extra={"event_id": event_id})
        raise


def consume(consumer: Consumer, event_id: str, data: Any, *, topic: str) -> None:
    """Unwrap the Pub/Sub message and hand it over; a broken envelope is dead-lettered."""
    start = time.perf_counter()
    with noting_failures(consumer.letters, topic, event_id, data, consumer.clock):
        try:
            message = unwrap(event_id, data)
        except Refused as exc:
            consumer.refuse(event_id, exc.reason, raw_bytes(data), {})
            outcome: object = "refused"
        else:
            outcome = consumer.handle(message)
    log.info(
        "delivered: %s",
        getattr(outcome, "status", outcome),
        extra={
            "event_id": event_id,
            "topic": topic,
            "elapsed_ms": round((time.perf_counter() - start) * 1000, 2),
        },
    )


# Dead letters of the flag guard are filed under its trigger, as Pub/Sub ones under their topic.
FLAG_WRITES = "featureFlags"
_KEPT_ATTRIBUTES = ("id", "source", "subject", "type", "time")


def guard_flag_write_event(
    guard: FlagGuard, attributes: Mapping[str, Any], data: Any
) -> AuditEntry | None:
    """`on_flag_written`: decode the Firestore write and hand it to the flag guard; a write that
    can never be judged (it does not decode, or no environment uses its project) is
    dead-lettered and acknowledged."""
    from shared.flags.events import decode_flag_write

    try:
        write = decoded(lambda raw: decode_flag_write(attributes, raw), data, what="flag write")
        if not write.event_id:
            raise Refused("Firestore event without an id")
        return guard.handle(write)
    except Refused as exc:
        _refuse_event(guard.letters, exc, attributes, data, FLAG_WRITES, guard.clock())
        return None


# Dead letters of `on_remote_config_updated` are filed under its event, like the flag guard's.
REMOTE_CONFIG_UPDATES = "remoteConfig"


def govern_remote_config_event(
    governor: RemoteConfigGovernor, attributes: Mapping[str, Any], data: Any
) -> list[AuditEntry]:
    """`on_remote_config_updated`: decode Eventarc's Remote Config update and hand it to the
    governor; an event that can never be judged (it does not decode, or no environment uses its
    project) is dead-lettered and acknowledged. Anything else escapes: Eventarc redelivers."""
    from shared.flags.rc_events import decode_update

    try:
        update = decoded(
            lambda raw: decode_update(attributes, raw), data, what="Remote Config update"
        )
        return governor.handle(update)
    except Refused as exc:
        _refuse_event(
            governor.letters, exc, attributes, data, REMOTE_CONFIG_UPDATES, governor.clock()
        )
        return []


def _refuse_event(
    letters: DeadLetters,
    exc: Refused,
    attributes: Mapping[str, Any],
    data: Any,
    topic: str,
    now: datetime,
    kept: tuple[str, ...] = (),
) -> None:
    """Dead-letter a CloudEvent that can never be valid, filed under its id and `topic`, with
    the attributes worth keeping (`kept`, else those of any Eventarc event)."""
    kept = kept or _KEPT_ATTRIBUTES
    refuse(
        letters.put,
        exc.reason,
        event_id=str(attributes.get("id") or "unknown"),
        topic=topic,
        payload=raw_bytes(data),
        attributes={k: str(v) for k, v in attributes.items() if k in kept},
        now=now,
    )


def record_exhausted(
    letters: DeadLetters,
    event_id: str,
    data: Any,
    *,
    dead_letter_topic: str,
    now: datetime | None = None,
) -> DeadLetter:
    """`on_dead_letter`: a message Pub/Sub gave up on after its delivery attempts, recorded in
    `deadLetters` under its own topic, with the error its last failed delivery noted."""
    topic = source_topic(dead_letter_topic) or dead_letter_topic
    broken: str | None = None
    try:
        message = unwrap(event_id, data)
    except Refused as exc:
        message = PubSubMessage(event_id, raw_bytes(data), {})
        broken = exc.reason
    count = message.attributes.get(DELIVERY_COUNT, "")
    attempts = int(count) if count.isdigit() and len(count) < 6 else None
    failure = letters.last_failure(fingerprint(topic, message.data, message.attributes))
    reason = "delivery attempts exhausted" + (f" ({attempts} deliveries)" if attempts else "")
    dead = letter(
        event_id=failure.event_id if failure else event_id,
        topic=topic,
        reason=f"{reason}; {broken}" if broken else reason,
        payload=message.data,
        attributes=message.attributes,
        now=now or utcnow(),
        delivery_attempts=attempts,
        last_error=failure.error if failure else None,
    )
    letters.put(dead)
    log.error("%s: %s", dead.reason, dead.last_error or "no error noted", extra={"topic": topic})
    return dead
