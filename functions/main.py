"""Cloud Functions entry points: decode the trigger, hand a typed message to the core.

Each target's handler: `shared.entrypoints` (decoding) → `shared.service.handlers.HANDLERS`.
Clients are built lazily, once per instance, on the first event.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import functions_framework
from cloudevents.http import CloudEvent

from shared import log
from shared.entrypoints import consume, decode_build, decode_command, decode_tick, deliver

if TYPE_CHECKING:  # the real imports are lazy: they cost every cold start, used by one target
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


@functions_framework.cloud_event
def on_release_command(event: CloudEvent) -> None:
    """Pub/Sub `release-commands`: one JSON command (DESIGN.md §3)."""
    deliver(_bus(), event["id"], event.data, topic="release-commands", decode=decode_command)


@functions_framework.cloud_event
def on_build_event(event: CloudEvent) -> None:
    """Pub/Sub `cloud-builds`: the Build resource JSON, attributes `buildId` and `status`."""
    deliver(_bus(), event["id"], event.data, topic="cloud-builds", decode=decode_build)


@functions_framework.cloud_event
def on_monitoring_tick(event: CloudEvent) -> None:
    """Pub/Sub `monitoring-ticks` (Cloud Scheduler, every minute): `{}` or `{"env": ...}`."""
    deliver(_bus(), event["id"], event.data, topic="monitoring-ticks", decode=decode_tick)


@cache
def _metrics() -> MetricsHandler:
    from shared.monitoring.wiring import metrics_handler

    return metrics_handler()


@functions_framework.cloud_event
def on_app_metrics(event: CloudEvent) -> None:
    """Pub/Sub `app-metrics`: one batch of windowed counters (docs/MONITORING.md)."""
    consume(_metrics(), event["id"], event.data)


@functions_framework.cloud_event
def on_flag_written(event: CloudEvent) -> None:
    """Firestore `featureFlags/{flag}` written (console edits): JSON locally, protobuf on GCP."""
    from shared.flags.entry import handle_flag_event

    handle_flag_event(event.get_attributes(), event.data)


@functions_framework.cloud_event
def on_release_event(event: CloudEvent) -> None:
    """Pub/Sub `release-events`: state changes, flag reverts, breaches → Slack, Discord, mail."""
    consume(_notifier(), event["id"], event.data)
