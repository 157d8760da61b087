"""What each function is and needs on Google Cloud: memory, timeout, and least-privilege roles.

The function targets come from `shared.topics` (never listed twice); every target there must
have a spec here, which `tests/unit/test_deploy_plan.py` checks. docs/DEPLOY.md explains the
same roles for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.topics import (
    CRASHLYTICS_TARGET,
    DASHBOARD_TARGET,
    DEAD_LETTER_TARGET,
    FLAG_TRIGGER_TARGET,
    MONITORING_TICKS,
    PUBSUB_TRIGGERS,
    RELEASE_COMMANDS,
    RELEASE_EVENTS,
    REMOTE_CONFIG_TARGET,
)


class Scope(StrEnum):
    CONTROL = "control project"
    ENVS = "each environment project"
    EVENTS_TOPIC = f"topic {RELEASE_EVENTS}"
    COMMANDS_TOPIC = f"topic {RELEASE_COMMANDS}"
    TICKS_TOPIC = f"topic {MONITORING_TICKS}"
    STEPS_SA = "release-steps service account"
    OWN_PROJECT = "its own project"
    BACKUP_BUCKETS = "each environment's backup bucket"


@dataclass(frozen=True)
class Grant:
    role: str
    scope: Scope
    why: str


@dataclass(frozen=True)
class FunctionSpec:
    target: str
    memory: str
    timeout_s: int
    grants: tuple[Grant, ...]
    purpose: str

    @property
    def account_id(self) -> str:
        return account_id(self.target)


def account_id(name: str) -> str:
    """Service account id (6-30 characters) of a function or helper: `rc-` + name."""
    value = "rc-" + name.replace("_", "-")
    if not 6 <= len(value) <= 30:
        raise ValueError(f"service account id {value!r} must have 6-30 characters")
    return value


RELEASE_STEPS = "release-steps"  # the identity the release-step Cloud Builds should run as

# The functions that run the message bus (any event may start the next step) need the
# same roles: they read and write release state, publish state changes, start builds.
_BUS: tuple[Grant, ...] = (
    Grant(
        "roles/datastore.user",
        Scope.CONTROL,
        "reads and writes release state (releases, rollouts, history, environments, "
        "processedEvents, deadLetters) in transactions",
    ),
    Grant(
        "roles/pubsub.publisher",
        Scope.EVENTS_TOPIC,
        "publishes state changes on release-events (only that topic)",
    ),
    Grant(
        "roles/cloudbuild.builds.editor",
        Scope.CONTROL,
        "starts the migrate and deploy builds and lists them by tag, so a "
        "redelivered event reuses the build it already started",
    ),
    Grant(
        "roles/iam.serviceAccountUser",
        Scope.STEPS_SA,
        "lets the builds it starts run as the release-steps account (only that account)",
    ),
    Grant(
        "roles/datastore.user",
        Scope.ENVS,
        "writes featureFlags/{flag} (flag commands, kill switches, release flags); gates read "
        "compliance evidence, the migrate step the schema history (app's Firestore)",
    ),
    Grant(
        "roles/secretmanager.viewer",
        Scope.ENVS,
        "the secrets gate checks each required secret exists and its rotation age (metadata only)",
    ),
    Grant(
        "roles/secretmanager.secretAccessor",
        Scope.ENVS,
        "the secrets gate reads the Stripe key's prefix (test/live mode); the value is dropped",
    ),
    # Rollback restores recorded artifacts from the function itself (docs/ROLLBACK.md).
    Grant("roles/run.developer", Scope.ENVS, "rollback moves a function's traffic to a revision"),
    Grant(
        "roles/iam.serviceAccountUser",
        Scope.ENVS,
        "Cloud Run requires actAs on a service's identity to update it, even for traffic",
    ),
    Grant("roles/firebasehosting.admin", Scope.ENVS, "rollback releases an older Hosting version"),
    Grant(
        "roles/firebaserules.admin",
        Scope.ENVS,
        "rollback re-points the cloud.firestore rules release at the recorded ruleset",
    ),
    Grant(
        "roles/datastore.indexAdmin",
        Scope.ENVS,
        "rollback creates recorded composite indexes again (no access to documents)",
    ),
    Grant(
        "roles/datastore.importExportAdmin",
        Scope.ENVS,
        "backs the env's database up (managed export) before a rollout migrates, before a "
        "rollback restores and on backup.take; imports one on backup.restore",
    ),
    Grant(
        "roles/storage.objectAdmin",
        Scope.BACKUP_BUCKETS,
        "reads and deletes backups in the env's backup bucket (retention), only that bucket",
    ),
)
_TICK: tuple[Grant, ...] = (
    *_BUS,
    Grant(
        "roles/pubsub.publisher",
        Scope.TICKS_TOPIC,
        "fans the scheduler's tick out into one tick per environment (only that topic)",
    ),
    Grant(
        "roles/monitoring.viewer",
        Scope.ENVS,
        "the bake analysis may read the app's metrics from Cloud Monitoring",
    ),
)

_COMMANDS: tuple[Grant, ...] = (
    *_BUS,
    Grant(
        "roles/firebaseauth.viewer",
        Scope.CONTROL,
        "approvals: checks the approver's ID token is not revoked and the account not disabled",
    ),
)

# The dashboard: an HTTP function anyone may reach; it checks a Firebase Auth session itself.
DASHBOARD = FunctionSpec(
    DASHBOARD_TARGET,
    "512Mi",
    60,
    (
        Grant(
            "roles/datastore.user",
            Scope.CONTROL,
            "reads release state and dead letters, keeps settled DORA days in doraDays",
        ),
        Grant(
            "roles/pubsub.publisher",
            Scope.COMMANDS_TOPIC,
            "approve / reject from the page publish the CLI's command (only that topic)",
        ),
        Grant(
            "roles/datastore.viewer",
            Scope.ENVS,
            "shows each environment's flags and migration history (read only)",
        ),
        Grant(
            "roles/firebaseauth.admin",
            Scope.CONTROL,
            "makes and verifies sign-in session cookies (createSessionCookie needs admin)",
        ),
    ),
    "the release dashboard (HTTP; Firebase Auth session, viewer role)",
)

SPECS: dict[str, FunctionSpec] = {
    "on_release_command": FunctionSpec(
        "on_release_command", "512Mi", 120, _COMMANDS, "operator commands from release-commands"
    ),
    "on_build_event": FunctionSpec(
        "on_build_event", "512Mi", 120, _BUS, "Cloud Build status messages from cloud-builds"
    ),
    "on_monitoring_tick": FunctionSpec(
        "on_monitoring_tick",
        "512Mi",
        300,  # a tick may run smoke tests and the bake analysis for every environment
        _TICK,
        "the scheduler's minute tick: smoke tests, bake analysis, automatic rollback",
    ),
    "on_app_metrics": FunctionSpec(
        "on_app_metrics",
        "512Mi",
        300,  # it judges the env at once: a verdict may roll back, as a tick's would
        _BUS,
        "metric batches the app publishes on app-metrics; judges their env at once "
        "(bake analysis, canary judge, automatic rollback)",
    ),
    "on_release_event": FunctionSpec(
        "on_release_event",
        "256Mi",
        120,
        (
            Grant(
                "roles/datastore.user",
                Scope.CONTROL,
                "reads rollouts, records sent notifications (no double sends) and dead letters",
            ),
            Grant(
                "roles/secretmanager.viewer",
                Scope.ENVS,
                "finds the current version of each webhook secret",
            ),
            Grant(
                "roles/secretmanager.secretAccessor",
                Scope.ENVS,
                "reads the Slack / Discord webhook URLs and mail credentials",
            ),
        ),
        "notifications (Slack, Discord, mail) for release-events",
    ),
    DEAD_LETTER_TARGET: FunctionSpec(
        DEAD_LETTER_TARGET,
        "256Mi",
        60,
        (
            Grant(
                "roles/datastore.user",
                Scope.CONTROL,
                "records messages whose delivery attempts ran out in deadLetters, with the "
                "failure last noted for them (deliveryFailures)",
            ),
        ),
        "messages Pub/Sub gave up on, from <topic>-dead-letter (one function per topic)",
    ),
    FLAG_TRIGGER_TARGET: FunctionSpec(
        FLAG_TRIGGER_TARGET,
        "256Mi",
        60,
        (
            Grant(
                "roles/datastore.user",
                Scope.OWN_PROJECT,
                "reads the written flag, reverts an invalid edit, appends featureFlags/*/audit",
            ),
            Grant(
                "roles/eventarc.eventReceiver",
                Scope.OWN_PROJECT,
                "receives the Firestore events of its Eventarc trigger",
            ),
            Grant(
                "roles/pubsub.publisher",
                Scope.EVENTS_TOPIC,
                "publishes flag reverts on release-events in the control project (only there)",
            ),
            Grant(
                "roles/cloudconfig.admin",
                Scope.OWN_PROJECT,
                "publishes the env's Remote Config templates after each flag change (the "
                "narrowest role that can publish; cloudconfig.viewer can only read)",
            ),
        ),
        "console edits of featureFlags/{flag}: validate, revert, audit, publish to Remote Config "
        "(one per env project)",
    ),
    REMOTE_CONFIG_TARGET: FunctionSpec(
        REMOTE_CONFIG_TARGET,
        "256Mi",
        120,
        (
            Grant(
                "roles/cloudconfig.admin",
                Scope.OWN_PROJECT,
                "reads the edited template version and reverts a forbidden console edit by "
                "publishing ours (If-Match)",
            ),
            Grant(
                "roles/datastore.user",
                Scope.OWN_PROJECT,
                "adopts an allowed console edit into featureFlags/{flag} and audits it",
            ),
            Grant(
                "roles/eventarc.eventReceiver",
                Scope.OWN_PROJECT,
                "receives the Remote Config update events of its Eventarc trigger",
            ),
            Grant(
                "roles/pubsub.publisher",
                Scope.EVENTS_TOPIC,
                "publishes adopted and reverted console edits on release-events (only there)",
            ),
            Grant(
                "roles/datastore.user",
                Scope.CONTROL,
                "dead-letters update events that can never be judged (deadLetters)",
            ),
        ),
        "console edits of Remote Config: adopt into Firestore or revert (one per env project)",
    ),
    CRASHLYTICS_TARGET: FunctionSpec(
        CRASHLYTICS_TARGET,
        "512Mi",
        120,  # a velocity alert halts the build's trains through the bus (store calls)
        (
            Grant(
                "roles/eventarc.eventReceiver",
                Scope.OWN_PROJECT,
                "receives the Firebase Alerts (Crashlytics) events of its Eventarc triggers",
            ),
            Grant(
                "roles/datastore.user",
                Scope.CONTROL,
                "a velocity alert moves the build's trains in the release state (transactions), "
                "an alert that can never be valid is a dead letter",
            ),
            Grant(
                "roles/pubsub.publisher",
                Scope.EVENTS_TOPIC,
                "publishes the other alerts and the halt on release-events (only there)",
            ),
            Grant(
                "roles/secretmanager.secretAccessor",
                Scope.ENVS,
                "reads the Play service account and the App Store Connect key (mobile env)",
            ),
            Grant(
                "roles/datastore.user",
                Scope.ENVS,
                "turns a halted release's kill switches on in featureFlags (mobile env)",
            ),
        ),
        "Crashlytics alerts: a velocity alert halts the build's trains, others notify "
        "(one per alert type and env project)",
    ),
}

# The identity for the release-step builds (cloudbuild/*.yaml started by the control plane);
# a build config selects it with `serviceAccount:` (docs/DEPLOY.md).
STEPS_GRANTS: tuple[Grant, ...] = (
    Grant("roles/logging.logWriter", Scope.CONTROL, "writes the build's logs"),
    Grant(
        "roles/datastore.user",
        Scope.ENVS,
        "the migrate step runs Firestore migrations on the app's database",
    ),
    Grant(
        "roles/firebase.developAdmin",
        Scope.ENVS,
        "the deploy step runs `firebase deploy` (functions, rules, indexes, hosting)",
    ),
    Grant(
        "roles/iam.serviceAccountUser",
        Scope.ENVS,
        "`firebase deploy` of functions needs actAs on the app functions' identities",
    ),
    Grant(
        "roles/datastore.user",
        Scope.CONTROL,
        "records the artifacts a deploy step produced (for rollback)",
    ),
)


class MissingSpec(ValueError):
    """A function target of `shared.topics` has no deployment spec here."""


SPECS[DASHBOARD_TARGET] = DASHBOARD


def spec(target: str) -> FunctionSpec:
    try:
        return SPECS[target]
    except KeyError:
        raise MissingSpec(
            f"function target {target!r} has no memory, timeout and roles in "
            "shared/deploy/catalog.py: add its FunctionSpec before deploying"
        ) from None


def pubsub_functions() -> list[tuple[str, FunctionSpec]]:
    """(topic, spec) for every Pub/Sub-triggered target of `shared.topics`, in its order."""
    return [(topic, spec(target)) for topic, target in PUBSUB_TRIGGERS.items()]


def flag_function() -> FunctionSpec:
    return spec(FLAG_TRIGGER_TARGET)


def remote_config_function() -> FunctionSpec:
    return spec(REMOTE_CONFIG_TARGET)


def crashlytics_function() -> FunctionSpec:
    return spec(CRASHLYTICS_TARGET)


def crashlytics_function_name(alert_type: str) -> str:
    """One deployed function per Crashlytics alert type (an Eventarc trigger matches one
    `alerttype`), all running the `on_crashlytics_alert` entry point."""
    return f"{CRASHLYTICS_TARGET}_{alert_type.split('.')[-1].lower()}"


def env_functions() -> tuple[FunctionSpec, ...]:
    """The functions deployed in each environment project (triggered by its own events)."""
    return (flag_function(), remote_config_function(), crashlytics_function())


def dead_letter_function() -> FunctionSpec:
    return spec(DEAD_LETTER_TARGET)


def dead_letter_function_name(topic: str) -> str:
    """One deployed function per dead-letter topic (a function has one trigger), all running
    the `on_dead_letter` entry point."""
    return f"{DEAD_LETTER_TARGET}_{topic.replace('-', '_')}"


# Where each env's backups go (`backup_bucket` in the config overrides it; then create and
# grant that bucket yourself), and the lifecycle rule it is created with: a safety net behind
# the control plane's own retention (`backups_keep`).
BACKUP_LIFECYCLE = "config/backup-lifecycle.json"


def backup_bucket(project: str) -> str:
    return f"gs://{project}-release-backups"


def control_apis() -> tuple[str, ...]:
    return (
        "artifactregistry.googleapis.com",
        "cloudbuild.googleapis.com",
        "cloudfunctions.googleapis.com",
        "cloudscheduler.googleapis.com",
        "eventarc.googleapis.com",
        "firebaserules.googleapis.com",
        "firestore.googleapis.com",
        "iam.googleapis.com",
        "identitytoolkit.googleapis.com",  # Firebase Authentication: approvers sign in
        "pubsub.googleapis.com",
        "run.googleapis.com",
    )


def env_apis() -> tuple[str, ...]:
    return (
        "artifactregistry.googleapis.com",
        "cloudbuild.googleapis.com",
        "cloudfunctions.googleapis.com",
        "eventarc.googleapis.com",
        "firebaseremoteconfig.googleapis.com",  # flags are delivered by Remote Config
        "firebaserules.googleapis.com",
        "firestore.googleapis.com",
        "pubsub.googleapis.com",
        "run.googleapis.com",
        "secretmanager.googleapis.com",
        "storage.googleapis.com",  # the backup buckets
    )
