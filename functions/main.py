"""Cloud Functions entry points: each target hands its event to the boundary
(`shared.entrypoints`: unwrap, decode, dead-letter what can never be valid), with the handler
the composition root (`shared.bootstrap`) built for it, once per instance, on the first event.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import functions_framework
from cloudevents.http import CloudEvent
from flask import Request, Response

from shared import bootstrap
from shared import entrypoints as boundary

if TYPE_CHECKING:
    from shared.dashboard.app import Dashboard
    from shared.flags.handler import FlagGuard, RemoteConfigGovernor
    from shared.mobile.crashlytics import CrashlyticsAlerts
    from shared.monitoring.handler import MetricsHandler
    from shared.notify.handler import Notifier
    from shared.service.messagebus import MessageBus
    from shared.service.ports import DeadLetters

boundary.configure_logging()


@cache
def _bus() -> MessageBus:
    return bootstrap.bus()


@cache
def _notifier() -> Notifier:
    return bootstrap.notifier()


@cache
def _metrics() -> MetricsHandler:
    return bootstrap.metrics_handler()


@cache
def _flag_guard() -> FlagGuard:
    return bootstrap.flag_guard()


@cache
def _governor() -> RemoteConfigGovernor:
    return bootstrap.remote_config_governor()


def _crashlytics() -> CrashlyticsAlerts:
    return bootstrap.crashlytics_alerts()


@cache
def _letters() -> DeadLetters:
    return bootstrap.dead_letters()


@cache
def _dashboard() -> Dashboard:
    return bootstrap.dashboard()


@functions_framework.cloud_event
def on_release_command(event: CloudEvent) -> None:
    """Pub/Sub `release-commands`: one JSON command (docs/ARCHITECTURE.md, "Commands")."""
    boundary.release_command(_bus(), event)


@functions_framework.cloud_event
def on_build_event(event: CloudEvent) -> None:
    """Pub/Sub `cloud-builds`: the Build resource JSON, attributes `buildId` and `status`."""
    boundary.build_event(_bus(), event)


@functions_framework.cloud_event
def on_monitoring_tick(event: CloudEvent) -> None:
    """Pub/Sub `monitoring-ticks` (Cloud Scheduler, every minute): `{}` or `{"env": ...}`."""
    boundary.monitoring_tick(_bus(), event)


@functions_framework.cloud_event
def on_app_metrics(event: CloudEvent) -> None:
    """Pub/Sub `app-metrics`: one batch of windowed counters (docs/MONITORING.md)."""
    boundary.app_metrics(_metrics(), event)


@functions_framework.cloud_event
def on_flag_written(event: CloudEvent) -> None:
    """Firestore `featureFlags/{flag}` written (console edits): JSON locally, protobuf on GCP."""
    boundary.flag_written(_flag_guard(), event)


@functions_framework.cloud_event
def on_remote_config_updated(event: CloudEvent) -> None:
    """Eventarc `google.firebase.remoteconfig.remoteConfig.v1.updated` (each env project): a
    console edit of our parameters is adopted into Firestore or reverted (docs/FLAGS.md)."""
    boundary.remote_config_updated(_governor(), event)


@functions_framework.cloud_event
def on_release_event(event: CloudEvent) -> None:
    """Pub/Sub `release-events`: state changes, flag reverts, breaches → Slack, Discord, mail."""
    boundary.release_event(_notifier(), event)


@functions_framework.cloud_event
def on_dead_letter(event: CloudEvent) -> None:
    """Pub/Sub `<topic>-dead-letter`: a message whose delivery attempts ran out → `deadLetters`."""
    boundary.dead_letter(_letters(), event)


@functions_framework.http
def release_dashboard(request: Request) -> Response:
    """HTTP: the release dashboard (signed-in viewers on Google Cloud; docs/DASHBOARD.md)."""
    return _dashboard().respond(request)


@functions_framework.cloud_event
def on_crashlytics_alert(event: CloudEvent) -> None:
    """Eventarc `google.firebase.firebasealerts.alerts.v1.published` (Crashlytics), attributes
    `alerttype`, `appid` (docs/MOBILE.md)."""
    boundary.crashlytics_alert(_crashlytics(), event)
