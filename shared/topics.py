"""The Pub/Sub topics of DESIGN.md §3 and the function target each one triggers (contract)."""

from __future__ import annotations

CLOUD_BUILDS = "cloud-builds"
RELEASE_COMMANDS = "release-commands"
MONITORING_TICKS = "monitoring-ticks"
APP_METRICS = "app-metrics"
RELEASE_EVENTS = "release-events"

# topic -> function target subscribed to it.
PUBSUB_TRIGGERS: dict[str, str] = {
    CLOUD_BUILDS: "on_build_event",
    RELEASE_COMMANDS: "on_release_command",
    MONITORING_TICKS: "on_monitoring_tick",
    APP_METRICS: "on_app_metrics",
    RELEASE_EVENTS: "on_release_event",
}
ALL_TOPICS = (CLOUD_BUILDS, RELEASE_COMMANDS, MONITORING_TICKS, APP_METRICS, RELEASE_EVENTS)
# The Firestore-triggered target (document writes of featureFlags/{flag} in each env project).
FLAG_TRIGGER_TARGET = "on_flag_written"
