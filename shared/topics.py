"""The Pub/Sub topics (docs/ARCHITECTURE.md) and the function target each one triggers."""

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
# The Eventarc-triggered target of Remote Config updates (each env project).
REMOTE_CONFIG_TARGET = "on_remote_config_updated"
# Eventarc Firebase Alerts (Crashlytics) in an env project: a velocity alert halts a train
CRASHLYTICS_TARGET = "on_crashlytics_alert"

# Messages a trigger's subscription gave up on (max delivery attempts) go to `<topic>-dead-letter`,
# whose subscription triggers `on_dead_letter`: it records them in `deadLetters`.
DEAD_LETTER_SUFFIX = "-dead-letter"
DEAD_LETTER_TARGET = "on_dead_letter"
MAX_DELIVERY_ATTEMPTS = 10


def dead_letter_topic(topic: str) -> str:
    return f"{topic}{DEAD_LETTER_SUFFIX}"


def source_topic(dead_letter: str) -> str | None:
    """The topic a dead-letter topic collects for (None if `dead_letter` is not one)."""
    if not dead_letter.endswith(DEAD_LETTER_SUFFIX):
        return None
    source = dead_letter.removesuffix(DEAD_LETTER_SUFFIX)
    return source if source in PUBSUB_TRIGGERS else None


# The HTTP target: the release dashboard (docs/DASHBOARD.md).
DASHBOARD_TARGET = "release_dashboard"
