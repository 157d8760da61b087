"""The composition root: the one place that picks adapters.

Everything a function or the CLI runs is built here from `Settings`: the message bus and its
ports, the notifier, the metrics handler, the flag guard, the dead letters, the migration
engine, and the clients the CLI shares. Google Cloud, the local stack or bare emulators are
chosen here and nowhere else. Tests build their worlds through `bootstrap` with fakes.
Imports are made inside the factories: a function instance pays only for what its target uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, utcnow
from shared.config import DEMO_PREFIX, REPO_ROOT, EnvConfig, PlaneConfig, Settings
from shared.errors import ConfigError
from shared.service.messagebus import MessageBus
from shared.service.ports import (
    BuildPort,
    CommandCheck,
    DeadLetters,
    DeployTarget,
    Ports,
    SecretValues,
    UnitOfWork,
)

if TYPE_CHECKING:
    from shared.adapters.app_store_connect import AppStoreConnectApi
    from shared.adapters.kill_switches import FlagKillSwitches
    from shared.adapters.play_store import PlayDeveloperApi, PlayVitals
    from shared.adapters.pubsub import Publisher
    from shared.backups.handler import Backups
    from shared.dashboard.app import Dashboard
    from shared.flags.changes import FlagChanges
    from shared.flags.handler import FlagGuard, RemoteConfigGovernor
    from shared.flags.ports import RemoteConfig
    from shared.flags.publishing import TemplatePublisher
    from shared.gates.checks_file import ChecksConfig
    from shared.gates.handler import ComplianceGates
    from shared.local.state import StackState
    from shared.migrations.handler import Engine
    from shared.migrations.ports import ProgressSink, SnapshotPort
    from shared.mobile.breach import CrashWindow
    from shared.mobile.crashlytics import CrashlyticsAlerts
    from shared.mobile.handler import TrainStores
    from shared.mobile.ports import VitalsSource
    from shared.monitoring.bake import MetricsBakeAnalysis
    from shared.monitoring.batch import MetricsBatch
    from shared.monitoring.detection import Detector
    from shared.monitoring.handler import MetricsHandler
    from shared.notify.handler import Notifier
    from shared.secrets.handler import SecretsSettings
    from shared.secrets.ports import SecretStore
    from shared.smoke.handler import HttpSmokeRunner


def bootstrap(
    *, uow: UnitOfWork, plane: PlaneConfig, ports: Ports, clock: Clock = utcnow
) -> MessageBus:
    return MessageBus(uow=uow, plane=plane, clock=clock, ports=ports)


def _stack(settings: Settings) -> StackState:
    from shared.local.state import load

    stack = load(settings.local_dir) if settings.local_dir else None
    if stack is None:
        raise ConfigError(f"no local stack is running in {settings.local_dir}")
    return stack


def builds(settings: Settings, db: Any) -> BuildPort:
    from shared.adapters.build_starts import FirestoreBuildStarts
    from shared.adapters.cloudbuild import CloudBuildPort, NoBuildRunner

    backend = settings.backend(settings.build_backend, "cloudbuild")
    if backend == "local":
        from shared.local.build_runner import LocalBuildRunner

        stack = _stack(settings)
        return LocalBuildRunner(stack.local_dir, settings.project, stack.environment())
    if backend == "none":
        return NoBuildRunner()
    return CloudBuildPort(settings.project, FirestoreBuildStarts(db))


def deploy_target(settings: Settings, db: Any) -> DeployTarget:
    from shared.adapters.pending_steps import NoDeployTarget

    backend = settings.backend(settings.deploy_target, "gcp")
    if backend == "local":
        from shared.adapters.firestore_views import release_artifacts
        from shared.local.sample_app import LocalSampleApp

        return LocalSampleApp(_stack(settings), lambda version: release_artifacts(db, version))
    if backend == "gcp":
        from shared.adapters.gcp_deploy_target import gcp_deploy_target

        return gcp_deploy_target()
    return NoDeployTarget()


def approvals(settings: Settings) -> CommandCheck:
    """Commands signed by Firebase ID tokens of the control project (firebase-admin), and the
    roles in them checked per command and environment."""
    from shared.approvals.handler import SignedCommands
    from shared.approvals.tokens import FirebaseTokenVerifier

    return SignedCommands(lambda: FirebaseTokenVerifier(settings.project), plane=settings.plane)


def secret_values(settings: Settings) -> SecretValues:
    """Each environment's secret values, for scrubbing the free text of commands."""
    from shared.secrets.handler import SecretsSettings
    from shared.secrets.redacting import StoreSecretValues

    secrets = SecretsSettings()
    known = set(settings.plane.environments)
    return StoreSecretValues(lambda: secrets.config(known), lambda e: secret_store(e, secrets))


def cloud_project(settings: Settings, project: str) -> str:
    """`project`, checked before a Google client is built for it: a `demo-` project exists only
    on the emulators, so without them it is a set-up mistake (no local stack running), said in
    one line, not a credentials lookup and a traceback from Google Cloud."""
    if project.startswith(DEMO_PREFIX) and not settings.local:
        raise ConfigError(
            f"no local stack is running and no emulator is set, but {project} is a demo- "
            "project only the emulators serve: start the local stack with `./deploy.sh local`, "
            "or for Google Cloud set GOOGLE_CLOUD_PROJECT and RELEASECTL_CONFIG_FILE "
            "(docs/CLI.md)"
        )
    return project


def control_db(settings: Settings) -> Any:
    """A Firestore client on the control project (release state, dead letters, metrics)."""
    from google.cloud import firestore

    return firestore.Client(project=cloud_project(settings, settings.project))


def publisher(settings: Settings) -> Publisher:
    from shared.adapters.pubsub import Publisher

    return Publisher(cloud_project(settings, settings.project))


def dead_letters(settings: Settings | None = None, db: Any = None) -> DeadLetters:
    """`deadLetters` in the control project (what `on_dead_letter` writes to)."""
    from shared.adapters.dead_letters import FirestoreDeadLetters

    settings = settings or Settings()
    return FirestoreDeadLetters(db if db is not None else control_db(settings))


def bus(settings: Settings | None = None) -> MessageBus:
    """The bus with real adapters: Google Cloud, the local stack, or bare emulators."""
    from shared.adapters.firestore_store import FirestoreUnitOfWork
    from shared.adapters.migration_ledger import SchemaHistoryLedger
    from shared.adapters.pubsub import PubSubEventPublisher, PubSubTickPublisher
    from shared.adapters.release_flags import FirestoreReleaseFlags

    settings = settings or Settings()
    db = control_db(settings)
    pub = publisher(settings)
    ports = Ports(
        builds=builds(settings, db),
        events=PubSubEventPublisher(pub, settings.release_events_topic),
        gates=gate_runner(settings, db=db),
        smoke=smoke_runner(settings),
        bake=bake_analysis(settings, db=db),
        deploy_target=deploy_target(settings, db),
        flags=FirestoreReleaseFlags(),
        approvals=approvals(settings),
        ticks=PubSubTickPublisher(pub),
        migrations=SchemaHistoryLedger(settings),
        letters=dead_letters(settings, db),
        secret_values=secret_values(settings),
        backups=backups(settings, db),
        stores=mobile_stores(settings),
        kill_switches=kill_switches(settings),
        flag_changes=flag_changes(settings),
        vitals=play_vitals(settings)
        if settings.plane.mobile and settings.plane.mobile.android
        else None,
    )
    return bootstrap(uow=FirestoreUnitOfWork(db), plane=settings.plane, ports=ports)


def backups(settings: Settings, db: Any = None) -> Backups:
    """Backups of each env's database: a document dump under `.local/backups/` with the
    emulators (RELEASECTL_BACKUP_DIR overrides it), a managed export to the env's
    `backup_bucket` on Google Cloud; catalogued in the control project."""
    from shared.backups.catalog import FirestoreCatalog
    from shared.backups.handler import Backups

    plane = settings.plane
    catalog = FirestoreCatalog(db if db is not None else control_db(settings))
    if settings.firestore_emulator_host:
        from google.cloud import firestore

        from shared.backups.dump import DocumentDumps

        base = settings.local_dir if settings.local_dir is not None else REPO_ROOT / ".local"
        directory = Path(os.environ.get("RELEASECTL_BACKUP_DIR") or base / "backups")
        dumps = DocumentDumps(directory, lambda project: firestore.Client(project=project))
        return Backups(dumps, catalog, "document-dump", dumps.location)
    from shared.backups.managed import ManagedExports

    def location(env: str, backup: str) -> str:
        cfg = plane.env(env)
        return f"{cfg.backup_bucket or default_backup_bucket(cfg)}/{env}/{backup}"

    return Backups(ManagedExports(), catalog, "managed-export", location)


def default_backup_bucket(env: EnvConfig) -> str:
    """The bucket `./deploy.sh gcp` creates for an env's backups when the config names none."""
    from shared.deploy.catalog import backup_bucket

    return backup_bucket(env.project)


# -- mobile trains: the app stores ------------------------------------------------------------


def crashlytics_alerts(settings: Settings | None = None) -> CrashlyticsAlerts:
    """`on_crashlytics_alert`: velocity alerts → the release bus; others → release-events."""
    from shared.adapters.pubsub import PubSubEventPublisher
    from shared.dead_letters import INTERNAL
    from shared.mobile.crashlytics import CrashlyticsAlerts
    from shared.mobile.store import FirestoreTrainFinder

    settings = settings or Settings()
    cfg = settings.plane.mobile
    if cfg is None:
        raise ConfigError("on_crashlytics_alert needs [mobile] in environments.toml")
    db = control_db(settings)
    the_bus = cache(lambda: bus(settings))
    events = PubSubEventPublisher(publisher(settings), settings.release_events_topic)
    return CrashlyticsAlerts(
        cfg=cfg,
        trains=FirestoreTrainFinder(db),
        report=lambda breach, key: the_bus().handle(breach, event_id=key, topic=INTERNAL),
        notify=events.alert,
        letters=dead_letters(settings, db),
        clock=utcnow,
    )


def kill_switches(settings: Settings) -> FlagKillSwitches:
    """Kill switches through each env's flag service (`featureFlags` in its project)."""
    from shared.adapters.kill_switches import FlagKillSwitches

    return FlagKillSwitches(_flag_stores(settings))


def flag_changes(settings: Settings) -> FlagChanges:
    """People's flag commands (`flags.set|kill|unkill`) through each env's flag store."""
    from shared.flags.changes import FlagChanges

    return FlagChanges(_flag_stores(settings))


def mobile_stores(settings: Settings) -> TrainStores:
    """Play and App Store Connect for the configured apps, credentials from the mobile env's
    secret store (Secret Manager; files on the local stack), clients built on first use."""
    from shared.mobile.handler import TrainStores

    cfg = settings.plane.mobile
    if cfg is None:
        return TrainStores(None, None, None)
    return TrainStores(
        cfg,
        (lambda: play_store(settings)) if cfg.android else None,
        (lambda: app_store(settings)) if cfg.ios else None,
    )


def _store_key(settings: Settings, env: str, name: str) -> str:
    """A store credential's current version (registered for redaction as it is read)."""
    from shared.secrets.handler import read_value

    value = read_value(secret_store(settings.plane.env(env)), name)
    if value is None:
        raise ConfigError(
            f"secret {name} has no enabled version in the {env} environment's project"
        )
    return value


def _play_account(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The Android app's package and its Play service account (from the mobile env's secrets):
    what both Play clients, the publisher and the reporting one, are built from."""
    import json

    cfg = settings.plane.mobile
    if not (cfg is not None and cfg.android is not None):
        raise ConfigError("[mobile] in environments.toml does not configure this store")
    key = _store_key(settings, cfg.env, cfg.android.service_account_name)
    return cfg.android.package_name, json.loads(key)


def play_store(settings: Settings) -> PlayDeveloperApi:
    from shared.adapters.play_store import PlayDeveloperApi
    from shared.mobile.settings import StoreUrls

    urls = StoreUrls()
    package, account = _play_account(settings)
    return PlayDeveloperApi.connect(package, account, urls.play_url, urls.store_timeout_s)


class _LazyVitals:
    """Play vitals whose client (and credentials) are made on the first read."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def _vitals(self) -> PlayVitals:
        from shared.adapters.play_store import PlayVitals
        from shared.mobile.settings import StoreUrls

        urls = StoreUrls()
        package, account = _play_account(self.settings)
        return PlayVitals.connect(package, account, urls.play_reporting_url, urls.store_timeout_s)

    def crash_windows(self, version_code: int, start: datetime, end: datetime) -> list[CrashWindow]:
        return self._vitals.crash_windows(version_code, start, end)


def play_vitals(settings: Settings) -> VitalsSource:
    return _LazyVitals(settings)


def app_store(settings: Settings) -> AppStoreConnectApi:
    from shared.adapters.app_store_connect import AppStoreConnectApi
    from shared.mobile.settings import StoreUrls

    cfg = settings.plane.mobile
    if not (cfg is not None and cfg.ios is not None):
        raise ConfigError("[mobile] in environments.toml does not configure this store")
    urls = StoreUrls()
    key = _store_key(settings, cfg.env, cfg.ios.signing_key_name)
    return AppStoreConnectApi(
        base_url=urls.app_store_connect_url,
        app_id=cfg.ios.app_id,
        issuer_id=cfg.ios.issuer_id,
        key_id=cfg.ios.key_id,
        private_key_pem=key,
        timeout_s=urls.store_timeout_s,
    )


def secret_store(env: EnvConfig, settings: SecretsSettings | None = None) -> SecretStore:
    """The secret store of one environment's project: Secret Manager on Google Cloud, files
    under `.local/` with the emulators."""
    from shared.secrets.handler import SecretsSettings

    settings = settings or SecretsSettings()
    if settings.uses_local():
        from shared.secrets.local_store import LocalSecretStore

        return LocalSecretStore(settings.dir, env.project)
    from shared.secrets.gsm import SecretManagerStore

    return SecretManagerStore(env.project)


# -- steps: gates, smoke tests, bake analysis -------------------------------------------------


def stack_base_urls(settings: Settings) -> dict[str, str] | None:
    """With a local stack running: each env's sample app URL (overrides checks.toml)."""
    if settings.local_dir is None:
        return None
    from shared.local.state import load

    stack = load(settings.local_dir)
    return {name: app.url for name, app in stack.apps.items()} if stack else None


def gate_runner(
    settings: Settings,
    checks: ChecksConfig | None = None,
    db: Any = None,
    base_urls: Mapping[str, str] | None = None,
) -> ComplianceGates:
    """Compliance + CI gates, with the secrets gate for production.

    Evidence: each env project's Firestore (`compliance/*`), HTTP against `base_url`, the CI
    build (Cloud Build API on Google Cloud; the local build runner's files with a local stack;
    `ciBuilds/` in the control project on bare emulators).
    """
    from shared.gates.checks_file import load_for
    from shared.gates.ci_builds import CloudBuildCiBuilds, FirestoreCiBuilds, LocalDirCiBuilds
    from shared.gates.handler import ComplianceGates
    from shared.gates.ports import CiBuildSource
    from shared.gates.sources import FirestoreCompliance, HttpProber
    from shared.secrets.handler import SecretsGate, SecretsSettings

    plane = settings.plane
    checks = checks or load_for(plane)
    ci: CiBuildSource
    if settings.local_dir is not None:
        from shared.local.build_runner import builds_dir

        ci = LocalDirCiBuilds(builds_dir(settings.local_dir))
    elif settings.local:
        ci = FirestoreCiBuilds(db if db is not None else control_db(settings))
    else:  # pragma: no cover - Google Cloud only
        ci = CloudBuildCiBuilds(settings.project)
    secrets = SecretsGate(
        SecretsSettings().config(set(plane.environments)),
        stores=secret_store,
        envs=frozenset({"production"}),
    )
    urls = base_urls if base_urls is not None else stack_base_urls(settings)
    return ComplianceGates(
        checks, FirestoreCompliance(), HttpProber(), ci, secrets=secrets, base_urls=urls
    )


def smoke_runner(
    settings: Settings,
    checks: ChecksConfig | None = None,
    base_urls: Mapping[str, str] | None = None,
) -> HttpSmokeRunner:
    """Smoke checks of `checks.toml`; `base_urls` (env → URL, default: the local stack's
    sample apps when one runs) overrides the file's base_url."""
    from shared.gates.checks_file import load_for
    from shared.smoke.handler import HttpSmokeRunner

    urls = base_urls if base_urls is not None else stack_base_urls(settings)
    return HttpSmokeRunner(checks or load_for(settings.plane), base_urls=urls)


def bake_analysis(
    settings: Settings, checks: ChecksConfig | None = None, db: Any = None
) -> MetricsBakeAnalysis:
    """Bake analysis over app-metrics stored in the control project (or Cloud Monitoring)."""
    from shared.gates.checks_file import load_for
    from shared.monitoring.bake import MetricsBakeAnalysis
    from shared.monitoring.sources import PerEnvSource
    from shared.monitoring.store import FirestoreMetrics

    checks = checks or load_for(settings.plane)
    source = PerEnvSource(checks, FirestoreMetrics(db if db is not None else control_db(settings)))
    return MetricsBakeAnalysis(checks, source)


# -- the consumers outside the bus ------------------------------------------------------------


def metrics_handler(
    settings: Settings | None = None,
    checks: ChecksConfig | None = None,
    db: Any = None,
    clock: Clock = utcnow,
) -> MetricsHandler:
    """`on_app_metrics`: batches folded into `metrics/{env}/windows/*` (each recorded in
    `metrics/{env}/batches/*`), their env judged at once; bad ones → dead letters."""
    from shared.gates.checks_file import load_for
    from shared.monitoring.handler import MetricsHandler
    from shared.monitoring.store import FirestoreMetrics

    settings = settings or Settings()
    db = db if db is not None else control_db(settings)
    checks = checks or load_for(settings.plane)
    return MetricsHandler(
        plane=settings.plane,
        checks=checks,
        sink=FirestoreMetrics(db),
        letters=dead_letters(settings, db),
        clock=clock,
        detector=detector(settings, checks, db, clock),
        observe=crash_watch(settings, db),
    )


def detector(settings: Settings, checks: ChecksConfig, db: Any, clock: Clock) -> Detector:
    """Judge an env as soon as a batch of it is stored: the same path as a tick naming the env,
    through the bus (built on the first batch that needs it), under the env's lease."""
    from shared.domain.messages import MonitoringTick
    from shared.monitoring.detection import Detector
    from shared.monitoring.lease import FirestoreDetectionLease
    from shared.topics import MONITORING_TICKS

    built: list[MessageBus] = []

    def analyse(env: str, run_id: str) -> None:
        if not built:
            built.append(bus(settings))
        built[0].handle(MonitoringTick(env=env), event_id=run_id, topic=MONITORING_TICKS)

    return Detector(
        lease=FirestoreDetectionLease(db),
        analyse=analyse,
        clock=clock,
        debounce=lambda env: checks.env(env).monitoring.detect_debounce_seconds,
    )


def crash_watch(settings: Settings, db: Any) -> Callable[[MetricsBatch], object] | None:
    """The mobile crash watch on app-metrics batches; a breach goes to the release bus
    (built on the first breach an instance sees, not before)."""
    from shared.dead_letters import INTERNAL
    from shared.mobile.crash import CrashWatch
    from shared.mobile.store import FirestoreCrashSamples, FirestoreTrainFinder

    cfg = settings.plane.mobile
    if cfg is None:
        return None
    the_bus = cache(lambda: bus(settings))
    watch = CrashWatch(
        cfg=cfg,
        samples=FirestoreCrashSamples(db),
        trains=FirestoreTrainFinder(db),
        report=lambda breach, key: the_bus().handle(breach, event_id=key, topic=INTERNAL),
    )
    return watch.observe


def notifier(settings: Settings | None = None) -> Notifier:
    """`on_release_event`: Slack, Discord and mail, deduplicated in the control project."""
    import httpx

    from shared.notify.adapters import FirestoreRollouts, StoreSecrets
    from shared.notify.handler import Notifier
    from shared.notify.ledger import FirestoreSentLog
    from shared.notify.settings import DEFAULT_NOTIFY_FILE, load_notify_config
    from shared.secrets.handler import SecretsSettings

    settings = settings or Settings()
    plane = settings.plane
    path = Path(os.environ.get("RELEASECTL_NOTIFY_FILE") or DEFAULT_NOTIFY_FILE)
    config = load_notify_config(path, set(plane.environments))
    db = control_db(settings)
    return Notifier(
        config=config,
        plane=plane,
        control_project=settings.project,
        ledger=FirestoreSentLog(db),
        letters=dead_letters(settings, db),
        secrets=StoreSecrets(plane, lambda env: secret_store(env, SecretsSettings())),
        http=httpx.Client(),
        rollouts=FirestoreRollouts(db),
    )


def remote_config_url(settings: Settings) -> str | None:
    """Where Remote Config is: the setting, else a running local stack's simulator, else
    Google's on Google Cloud; None on bare emulators (flags are then not delivered)."""
    from shared.flags.remote_config import GOOGLE

    if settings.remote_config_url:
        return settings.remote_config_url
    if settings.local_dir is not None:
        from shared.local.state import load

        stack = load(settings.local_dir)
        if stack is not None and stack.remote_config is not None:
            return f"http://127.0.0.1:{stack.remote_config.port}"
    return None if settings.local else GOOGLE


def remote_config(settings: Settings) -> RemoteConfig | None:
    """The REST adapter (the same against Google and the simulator: only the URL differs)."""
    from shared.flags.remote_config import RemoteConfigRest, google_token, local_token

    url = remote_config_url(settings)
    if url is None:
        return None
    if settings.local:  # the simulator records this identity as the publishing user
        return RemoteConfigRest(url, local_token(f"releasectl@{settings.project}.local"))
    return RemoteConfigRest(url, google_token())


def _flag_stores(settings: Settings) -> Callable[[str], Any]:
    from google.cloud import firestore

    from shared.flags.store import FirestoreFlagStore

    @cache
    def store(project: str) -> FirestoreFlagStore:
        return FirestoreFlagStore(firestore.Client(project=cloud_project(settings, project)))

    return store


def template_publisher(
    settings: Settings | None = None, api: RemoteConfig | None = None
) -> TemplatePublisher | None:
    """Publishes each env's flags to its Remote Config templates (None: no Remote Config)."""
    from shared.flags.publishing import TemplatePublisher

    settings = settings or Settings()
    api = api or remote_config(settings)
    if api is None:
        return None
    return TemplatePublisher(plane=settings.plane, stores=_flag_stores(settings), api=api)


def flag_guard(settings: Settings | None = None) -> FlagGuard:
    """`on_flag_written`: each env project's `featureFlags`, notices on `release-events`, then
    the env's Remote Config templates published."""
    from shared.flags.handler import FlagGuard
    from shared.flags.notices import PubSubFlagNotices

    settings = settings or Settings()
    return FlagGuard(
        plane=settings.plane,
        stores=_flag_stores(settings),
        notices=PubSubFlagNotices(publisher(settings), settings.release_events_topic),
        letters=dead_letters(settings),
        publisher=template_publisher(settings),
    )


def remote_config_governor(settings: Settings | None = None) -> RemoteConfigGovernor:
    """`on_remote_config_updated`: console edits of Remote Config adopted or reverted."""
    from shared.flags.handler import RemoteConfigGovernor
    from shared.flags.notices import PubSubFlagNotices

    settings = settings or Settings()
    api = remote_config(settings)
    if api is None:
        raise ConfigError("no Remote Config: set RELEASECTL_REMOTE_CONFIG_URL")
    publishing = template_publisher(settings, api)
    if publishing is None:  # unreachable with an api; said plainly rather than asserted
        raise ConfigError("no Remote Config publisher")
    return RemoteConfigGovernor(
        plane=settings.plane,
        stores=_flag_stores(settings),
        api=api,
        publisher=publishing,
        notices=PubSubFlagNotices(publisher(settings), settings.release_events_topic),
        letters=dead_letters(settings),
    )


# -- migrations -------------------------------------------------------------------------------


def snapshot_port(settings: Settings, project: str) -> SnapshotPort:
    """Where a migration's pre-run snapshot goes: the emulator's export locally, a managed
    export to Cloud Storage on Google Cloud."""
    from shared.migrations.snapshot import EmulatorSnapshots, ManagedExportSnapshots

    if settings.firestore_emulator_host:
        return EmulatorSnapshots(settings.firestore_emulator_host)
    bucket = os.environ.get("RELEASECTL_SNAPSHOT_BUCKET") or f"gs://{project}-firestore-snapshots"
    return ManagedExportSnapshots(bucket)


def migration_engine(
    env_name: str,
    *,
    actor: str,
    release: str | None = None,
    directory: Path | None = None,
    settings: Settings | None = None,
    chunk_size: int = 500,
    progress: Callable[[], ProgressSink] | None = None,
) -> Engine:
    """An engine on env `env_name`'s project; unknown env or bad files raise before any I/O."""
    from google.cloud import firestore

    from shared.migrations import DEFAULT_LEASE_S
    from shared.migrations.files import DEFAULT_DIR, load
    from shared.migrations.handler import Engine
    from shared.migrations.progress import NoProgress

    settings = settings or Settings()
    env = settings.plane.env(env_name)
    migrations = load(directory or DEFAULT_DIR)
    lease_s = int(os.environ.get("RELEASECTL_MIGRATE_LEASE_S", DEFAULT_LEASE_S))
    return Engine(
        firestore.Client(project=cloud_project(settings, env.project)),
        env,
        migrations,
        actor=actor,
        release=release,
        snapshots=snapshot_port(settings, env.project),
        local=settings.local,
        lease=timedelta(seconds=lease_s),
        chunk_size=chunk_size,
        progress=progress or NoProgress,
    )


def dashboard(settings: Settings | None = None) -> Dashboard:
    """The release dashboard: Firestore reads; on the local stack no sign-in, on Google Cloud
    Firebase Auth session cookies. Decisions go out through the CLI's one publishing path."""
    from shared.approvals.credentials import command_token, password_id_token
    from shared.approvals.signing import must_sign
    from shared.cli import context
    from shared.cli.sending import publish
    from shared.dashboard.app import Dashboard
    from shared.dashboard.auth import FirebaseSessions, LocalAccess
    from shared.dashboard.reader import FirestoreReader

    settings = settings or context.settings()
    plane = settings.plane

    def env_db(env: str) -> Any:
        from google.cloud import firestore

        return firestore.Client(project=plane.env(env).project)

    def engine(env: str) -> Engine:
        return migration_engine(env, actor="dashboard", settings=settings)

    def token_for(name: str) -> str | None:
        # signed as `releasectl release approve` signs (emulator token, the local user's roles)
        signed = must_sign(plane.control, "release.approve")
        return command_token(settings, name, utcnow()) if signed else None

    def sign_in(email: str, password: str) -> str:
        return password_id_token(settings, email, password)

    local = settings.local or settings.local_dir is not None
    access = LocalAccess(token_for) if local else FirebaseSessions(settings.project, sign_in)
    reader = FirestoreReader(control_db(settings), plane, env_db, engine)
    inbox = None
    if settings.local_dir is not None:
        from shared.local.inbox import Inbox

        received = Inbox(settings.local_dir / "inbox")

        def inbox() -> list[dict[str, Any]]:
            return [n.model_dump() for n in reversed(received.read())]

    return Dashboard(reader, access, plane, publish, utcnow, inbox)
