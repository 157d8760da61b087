"""Cloud Functions entry points: decode the trigger, hand a typed message to the core.

Each target's handler: `shared.entrypoints` (the boundary: unwrap, decode, dead-letter what
can never be valid) → `shared.service.handlers.HANDLERS` or its consumer.
Clients are built lazily, once per instance, on the first event.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import functions_framework
from cloudevents.http import CloudEvent

from shared import log
from shared.entrypoints import (
    consume,
    decode_build,
    decode_command,
    decode_tick,
    deliver,
    record_exhausted,
)
from shared.topics import (
    APP_METRICS,
    CLOUD_BUILDS,
    MONITORING_TICKS,
    RELEASE_COMMANDS,
    RELEASE_EVENTS,
)

if TYPE_CHECKING:  # the real imports are lazy: they cost every cold start, used by one target
    from shared.dead_letters import DeadLetters
    from shared.monitoring.handler import MetricsHandler
    from shared.notify.handler import Notifier
    from shared.service.messagebus import MessageBus

log.configure()


@cache
def _bus() -> MessageBus:
    from shared.bootstrap import from_settings

    return from_settings()


@cache
def _notifier() -> Notifier:
    from shared.notify.wiring import from_settings

    return from_settings()


@cache
def _metrics() -> MetricsHandler:
    from shared.monitoring.wiring import metrics_handler

    return metrics_handler()


@cache
def _letters() -> DeadLetters:
    from shared.bootstrap import dead_letters

    return dead_letters()


@functions_framework.cloud_event
def on_release_command(event: CloudEvent) -> None:
    """Pub/Sub `release-commands`: one JSON command (DESIGN.md §3)."""
    deliver(_bus(), event["id"], event.data, topic=RELEASE_COMMANDS, decode=decode_command)


@functions_framework.cloud_event
def on_build_event(event: CloudEvent) -> None:
    """Pub/Sub `cloud-builds`: the Build resource JSON, attributes `buildId` and `status`."""
    deliver(_bus(), event["id"], event.data, topic=CLOUD_BUILDS, decode=decode_build)


@functions_framework.cloud_event
def on_monitoring_tick(event: CloudEvent) -> None:
    """Pub/Sub `monitoring-ticks` (Cloud Scheduler, every minute): `{}` or `{"env": ...}`."""
    deliver(_bus(), event["id"], event.data, topic=MONITORING_TICKS, decode=decode_tick)


@functions_framework.cloud_event
def on_app_metrics(event: CloudEvent) -> None:
    """Pub/Sub `app-metrics`: one batch of windowed counters (docs/MONITORING.md)."""
    consume(_metrics(), event["id"], event.data, topic=APP_METRICS)


@functions_framework.cloud_event
def on_flag_written(event: CloudEvent) -> None:
    """Firestore `featureFlags/{flag}` written (console edits): JSON locally, protobuf on GCP."""
    from shared.flags.entry import handle_flag_event

    handle_flag_event(event.get_attributes(), event.data)


@functions_framework.cloud_event
def on_release_event(event: CloudEvent) -> None:
    """Pub/Sub `release-events`: state changes, flag reverts, breaches → Slack, Discord, mail."""
    consume(_notifier(), event["id"], event.data, topic=RELEASE_EVENTS)


@functions_framework.cloud_event
def on_dead_letter(event: CloudEvent) -> None:
    """Pub/Sub `<topic>-dead-letter`: a message whose delivery attempts ran out → `deadLetters`.

    The topic is the event's source (`//pubsub.googleapis.com/projects/P/topics/T`)."""
    topic = str(event["source"]).rsplit("/topics/", 1)[-1]
    record_exhausted(_letters(), event["id"], event.data, dead_letter_topic=topic)
