"""The deployment as data: every gcloud / firebase command, in order, from validated inputs.

Pure: no I/O, no clock. Re-running the plan updates in place: creations are guarded by a
`describe` check (create only what is missing; the scheduler job is updated when it exists),
and the rest is idempotent by itself (enabling APIs, adding IAM bindings, deploying a
function, deploying rules). Order matters: APIs, database, topics, accounts, grants, the
functions, their dead-letter wiring (the trigger's subscription exists only after the
deploy), the scheduler, then rules and indexes.
"""

from __future__ import annotations

from shared.deploy.catalog import (
    BACKUP_LIFECYCLE,
    DASHBOARD,
    RELEASE_STEPS,
    STEPS_GRANTS,
    FunctionSpec,
    Grant,
    Scope,
    account_id,
    backup_bucket,
    control_apis,
    crashlytics_function,
    crashlytics_function_name,
    dead_letter_function,
    dead_letter_function_name,
    env_apis,
    env_functions,
    flag_function,
    pubsub_functions,
    remote_config_function,
)
from shared.deploy.inputs import SOURCE_ROOT, DeployInputs
from shared.deploy.steps import Argv, Capture, Plan, Step
from shared.mobile.alerts import ALERT_EVENT, VELOCITY
from shared.topics import (
    ALL_TOPICS,
    MAX_DELIVERY_ATTEMPTS,
    MONITORING_TICKS,
    RELEASE_COMMANDS,
    RELEASE_EVENTS,
    dead_letter_topic,
)

RUNTIME = "python311"
FUNCTION_SOURCE = "functions/main.py"  # main.py is not at the source root: tell the buildpack
DEAD_LETTER_RETENTION = "7d"
SCHEDULER_JOB = "releasectl-monitoring-tick"
TICK_SCHEDULE = "* * * * *"
FIRESTORE_WRITTEN = "google.cloud.firestore.document.v1.written"
RC_UPDATED = "google.firebase.remoteconfig.remoteConfig.v1.updated"
# The Crashlytics alerts a train acts on (velocity halts) or notifies of; one trigger each
DEPLOYED_ALERTS = (VELOCITY, "crashlytics.regression", "crashlytics.newFatalIssue")
FLAG_DOCUMENTS = "featureFlags/{flag}"
CONTROL_FIREBASE_CONFIG = "firebase.json"
APP_FIREBASE_CONFIG = "config/firebase.app.json"


def email(account: str, project: str) -> str:
    return f"{account}@{project}.iam.gserviceaccount.com"


def _var(name: str) -> str:
    """A capture's variable name: upper case (lower-case `{flag}` stays literal)."""
    return name.upper().replace("-", "_")


class _Builder:
    def __init__(self, inputs: DeployInputs) -> None:
        self.i = inputs
        self.c = inputs.control_project
        self.steps: list[Step] = []

    def add(self, step: Step) -> None:
        self.steps.append(step)

    # --- APIs, database, topics -------------------------------------------------------------

    def apis(self) -> None:
        self.add(
            Step(
                f"Enable the APIs the control plane uses in {self.c}",
                ("gcloud", "services", "enable", *control_apis(), f"--project={self.c}"),
            )
        )
        for env, project in self.i.env_projects.items():
            self.add(
                Step(
                    f"Enable the APIs of the flag guard and the gates in {project} ({env})",
                    ("gcloud", "services", "enable", *env_apis(), f"--project={project}"),
                )
            )

    def database(self) -> None:
        self.add(
            Step(
                f"Firestore database of {self.c} (release state), created if missing",
                check=(
                    "gcloud", "firestore", "databases", "describe",
                    "--database=(default)", f"--project={self.c}",
                ),
                run=(
                    "gcloud", "firestore", "databases", "create", "--database=(default)",
                    f"--location={self.i.location}", "--type=firestore-native",
                    f"--project={self.c}",
                ),
            )
        )  # fmt: skip

    def backup_buckets(self) -> None:
        """Each env's backup bucket, with its lifecycle rule; Firestore's service agent of the
        env writes the managed exports into it."""
        for env, project in self.i.env_projects.items():
            bucket = backup_bucket(project)
            self.add(
                Step(
                    f"Bucket {bucket} for {env}'s database backups, created if missing",
                    check=("gcloud", "storage", "buckets", "describe", bucket,
                           f"--project={project}"),
                    run=("gcloud", "storage", "buckets", "create", bucket,
                         f"--location={self.i.region}", "--uniform-bucket-level-access",
                         f"--project={project}"),
                )
            )  # fmt: skip
            self.add(
                Step(
                    f"Lifecycle of {bucket}: backups older than 90 days go ({BACKUP_LIFECYCLE})",
                    ("gcloud", "storage", "buckets", "update", bucket,
                     f"--lifecycle-file={BACKUP_LIFECYCLE}", f"--project={project}"),
                )
            )  # fmt: skip
            number = f"ENV_PROJECT_NUMBER_{env.upper().replace('-', '_')}"
            agent = f"serviceAccount:service-{{{number}}}@gcp-sa-firestore.iam.gserviceaccount.com"
            self.add(
                Step(
                    f"Firestore's service agent of {project} writes and reads exports in {bucket}",
                    captures=(
                        Capture(number, ("gcloud", "projects", "describe", project,
                                         "--format=value(projectNumber)")),
                    ),
                    run=("gcloud", "storage", "buckets", "add-iam-policy-binding", bucket,
                         f"--member={agent}", "--role=roles/storage.admin",
                         f"--project={project}"),
                )
            )  # fmt: skip

    def topics(self) -> None:
        for topic in ALL_TOPICS:
            self._topic(topic, f"Topic {topic}, created if missing")
        for topic, spec in pubsub_functions():
            dlt = dead_letter_topic(topic)
            self._topic(dlt, f"Dead-letter topic {dlt} (messages {spec.target} gave up on)")
            hold = f"{dlt}-hold"
            self.add(
                Step(
                    f"Subscription {hold} keeps dead letters of {topic} for "
                    f"{DEAD_LETTER_RETENTION} (a topic alone keeps nothing)",
                    check=("gcloud", "pubsub", "subscriptions", "describe", hold,
                           f"--project={self.c}"),
                    run=("gcloud", "pubsub", "subscriptions", "create", hold, f"--topic={dlt}",
                         f"--message-retention-duration={DEAD_LETTER_RETENTION}",
                         "--expiration-period=never", f"--project={self.c}"),
                )
            )  # fmt: skip
            self.add(
                Step(
                    f"Pub/Sub's service agent may publish dead letters to {dlt}",
                    captures=(self._project_number(),),
                    run=("gcloud", "pubsub", "topics", "add-iam-policy-binding", dlt,
                         f"--member={self._pubsub_agent()}", "--role=roles/pubsub.publisher",
                         f"--project={self.c}"),
                )
            )  # fmt: skip

    def _topic(self, topic: str, description: str) -> None:
        self.add(
            Step(
                description,
                check=("gcloud", "pubsub", "topics", "describe", topic, f"--project={self.c}"),
                run=("gcloud", "pubsub", "topics", "create", topic, f"--project={self.c}"),
            )
        )

    def _project_number(self) -> Capture:
        return Capture(
            "CONTROL_PROJECT_NUMBER",
            ("gcloud", "projects", "describe", self.c, "--format=value(projectNumber)"),
        )

    def _pubsub_agent(self) -> str:
        return (
            "serviceAccount:service-{CONTROL_PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
        )

    # --- service accounts and roles ---------------------------------------------------------

    def _account(self, account: str, project: str, purpose: str) -> None:
        self.add(
            Step(
                f"Service account {account} in {project}: {purpose}",
                check=("gcloud", "iam", "service-accounts", "describe",
                       email(account, project), f"--project={project}"),
                run=("gcloud", "iam", "service-accounts", "create", account,
                     f"--display-name=releasectl {purpose}"[:100], f"--project={project}"),
            )
        )  # fmt: skip

    def accounts(self) -> None:
        for spec in (*(spec for _, spec in pubsub_functions()), dead_letter_function()):
            self._account(spec.account_id, self.c, f"runs {spec.target}")
        self._account(account_id(RELEASE_STEPS), self.c, "runs the release-step builds")
        self._account(DASHBOARD.account_id, self.c, f"runs {DASHBOARD.target}")
        for spec in env_functions():
            for project in self.i.env_projects.values():
                self._account(spec.account_id, project, f"runs {spec.target}")

    def _grant(self, grant: Grant, member_email: str, own_project: str) -> None:
        member = f"serviceAccount:{member_email}"
        role = f"--role={grant.role}"
        desc = f"{grant.role} for {member_email.split('@')[0]} on "
        topic = {
            Scope.EVENTS_TOPIC: RELEASE_EVENTS,
            Scope.TICKS_TOPIC: MONITORING_TICKS,
            Scope.COMMANDS_TOPIC: RELEASE_COMMANDS,
        }.get(grant.scope)
        if topic is not None:
            self.add(
                Step(
                    desc + f"topic {topic}: {grant.why}",
                    ("gcloud", "pubsub", "topics", "add-iam-policy-binding", topic,
                     f"--member={member}", role, f"--project={self.c}"),
                )
            )  # fmt: skip
            return
        if grant.scope is Scope.STEPS_SA:
            steps_sa = email(account_id(RELEASE_STEPS), self.c)
            self.add(
                Step(
                    desc + f"{steps_sa.split('@')[0]}: {grant.why}",
                    ("gcloud", "iam", "service-accounts", "add-iam-policy-binding", steps_sa,
                     f"--member={member}", role, f"--project={self.c}"),
                )
            )  # fmt: skip
            return
        if grant.scope is Scope.BACKUP_BUCKETS:
            for project in self.i.env_projects.values():
                bucket = backup_bucket(project)
                self.add(
                    Step(
                        desc + f"{bucket}: {grant.why}",
                        ("gcloud", "storage", "buckets", "add-iam-policy-binding", bucket,
                         f"--member={member}", role, f"--project={project}"),
                    )
                )  # fmt: skip
            return
        if grant.scope is Scope.ENVS:
            projects = list(self.i.env_projects.values())
        elif grant.scope is Scope.CONTROL:
            projects = [self.c]
        else:
            projects = [own_project]
        for project in projects:
            self.add(
                Step(
                    desc + f"{project}: {grant.why}",
                    ("gcloud", "projects", "add-iam-policy-binding", project,
                     f"--member={member}", role, "--condition=None"),
                )
            )  # fmt: skip

    def grants(self) -> None:
        for spec in (*(spec for _, spec in pubsub_functions()), dead_letter_function()):
            for grant in spec.grants:
                self._grant(grant, email(spec.account_id, self.c), self.c)
        for grant in STEPS_GRANTS:
            self._grant(grant, email(account_id(RELEASE_STEPS), self.c), self.c)
        for grant in DASHBOARD.grants:
            self._grant(grant, email(DASHBOARD.account_id, self.c), self.c)
        for spec in env_functions():
            for project in self.i.env_projects.values():
                for grant in spec.grants:
                    self._grant(grant, email(spec.account_id, project), project)

    # --- functions --------------------------------------------------------------------------

    def _env_vars(self) -> str:
        values = {
            "RELEASECTL_CONFIG_FILE": self.i.runtime_config_path(),
            "RELEASECTL_CHECKS_FILE": self.i.runtime_checks_path(),
            "GOOGLE_CLOUD_PROJECT": self.c,
            "RELEASECTL_CONTROL_PROJECT": self.c,
            # read from the uploaded source, wherever the package itself is installed
            "RELEASECTL_NOTIFY_FILE": str(SOURCE_ROOT / "config" / "notifications.toml"),
            "RELEASECTL_SECRETS_FILE": str(SOURCE_ROOT / "config" / "secrets.toml"),
        }
        return ",".join(f"{k}={v}" for k, v in values.items())

    def _deploy(
        self, spec: FunctionSpec, project: str, trigger: Argv, name: str | None = None
    ) -> Argv:
        sa = email(spec.account_id, project)
        return (
            "gcloud", "functions", "deploy", name or spec.target, "--gen2", f"--project={project}",
            f"--region={self.i.region}", f"--runtime={RUNTIME}", "--source=.",
            f"--entry-point={spec.target}", *trigger, "--retry",
            f"--memory={spec.memory}", f"--timeout={spec.timeout_s}s",
            f"--service-account={sa}", f"--trigger-service-account={sa}",
            "--ingress-settings=internal-only",
            f"--set-build-env-vars=GOOGLE_FUNCTION_SOURCE={FUNCTION_SOURCE}",
            f"--set-env-vars={self._env_vars()}",
        )  # fmt: skip

    def _invoker(self, spec: FunctionSpec, project: str, name: str | None = None) -> None:
        sa = email(spec.account_id, project)
        self.add(
            Step(
                f"{name or spec.target} in {project} may be invoked by its own trigger's "
                "account only",
                ("gcloud", "functions", "add-invoker-policy-binding", name or spec.target,
                 f"--region={self.i.region}", f"--member=serviceAccount:{sa}",
                 f"--project={project}"),
            )
        )  # fmt: skip

    def functions(self) -> None:
        for topic, spec in pubsub_functions():
            self.add(
                Step(
                    f"Deploy {spec.target} ({spec.purpose}), triggered by topic {topic}, "
                    "with retries (created or updated in place)",
                    self._deploy(spec, self.c, (f"--trigger-topic={topic}",)),
                )
            )
            self._invoker(spec, self.c)
            self._dead_letters(topic, spec)

    def _dead_letters(self, topic: str, spec: FunctionSpec) -> None:
        prefix = _var(spec.target)
        trigger, sub = f"{prefix}_TRIGGER", f"{prefix}_SUBSCRIPTION"
        lookups = (
            Capture(trigger, ("gcloud", "functions", "describe", spec.target, "--v2",
                              f"--region={self.i.region}", f"--project={self.c}",
                              "--format=value(eventTrigger.trigger)")),
            Capture(sub, ("gcloud", "eventarc", "triggers", "describe", f"{{{trigger}}}",
                          "--format=value(transport.pubsub.subscription)")),
        )  # fmt: skip
        dlt = dead_letter_topic(topic)
        self.add(
            Step(
                f"{spec.target}'s trigger subscription (made by the deploy, so looked up) "
                f"sends a message to {dlt} after {MAX_DELIVERY_ATTEMPTS} failed deliveries",
                captures=lookups,
                run=("gcloud", "pubsub", "subscriptions", "update", f"{{{sub}}}",
                     f"--dead-letter-topic=projects/{self.c}/topics/{dlt}",
                     f"--max-delivery-attempts={MAX_DELIVERY_ATTEMPTS}"),
            )
        )  # fmt: skip
        self.add(
            Step(
                f"Pub/Sub's service agent may move dead letters out of {spec.target}'s "
                "subscription",
                captures=(*lookups, self._project_number()),
                run=("gcloud", "pubsub", "subscriptions", "add-iam-policy-binding",
                     f"{{{sub}}}", f"--member={self._pubsub_agent()}",
                     "--role=roles/pubsub.subscriber"),
            )
        )  # fmt: skip

    def dashboard(self) -> None:
        """HTTP, reachable from the internet: the function itself signs people in (session
        cookie, viewer role). The Web API key it signs in with is public by design."""
        spec, sa = DASHBOARD, email(DASHBOARD.account_id, self.c)
        env = self._env_vars() + f",RELEASECTL_FIREBASE_API_KEY={{{API_KEY_VAR}}}"
        self.add(
            Step(
                f"Deploy {spec.target} ({spec.purpose}), public HTTPS; sign-in by session cookie",
                captures=(
                    Capture(KEY_NAME_VAR, (
                        "gcloud", "services", "api-keys", "list", f"--project={self.c}",
                        "--filter=displayName~'Browser key'", "--limit=1",
                        "--format=value(name)")),
                    Capture(API_KEY_VAR, (
                        "gcloud", "services", "api-keys", "get-key-string",
                        f"{{{KEY_NAME_VAR}}}", "--format=value(keyString)")),
                ),
                run=("gcloud", "functions", "deploy", spec.target, "--gen2",
                     f"--project={self.c}", f"--region={self.i.region}", f"--runtime={RUNTIME}",
                     "--source=.", f"--entry-point={spec.target}", "--trigger-http",
                     "--allow-unauthenticated", f"--memory={spec.memory}",
                     f"--timeout={spec.timeout_s}s", f"--service-account={sa}",
                     f"--set-build-env-vars=GOOGLE_FUNCTION_SOURCE={FUNCTION_SOURCE}",
                     f"--set-env-vars={env}"),
            )
        )  # fmt: skip

    def dead_letter_functions(self) -> None:
        spec = dead_letter_function()
        for topic, _ in pubsub_functions():
            dlt, name = dead_letter_topic(topic), dead_letter_function_name(topic)
            self.add(
                Step(
                    f"Deploy {name} ({spec.target}: records in deadLetters what {topic}'s "
                    f"function gave up on), triggered by topic {dlt}, with retries",
                    self._deploy(spec, self.c, (f"--trigger-topic={dlt}",), name=name),
                )
            )
            self._invoker(spec, self.c, name=name)

    def flag_functions(self) -> None:
        spec = flag_function()
        trigger = (
            f"--trigger-location={self.i.location}",
            f"--trigger-event-filters=type={FIRESTORE_WRITTEN}",
            "--trigger-event-filters=database=(default)",
            f"--trigger-event-filters-path-pattern=document={FLAG_DOCUMENTS}",
        )
        for env, project in self.i.env_projects.items():
            self.add(
                Step(
                    f"Deploy {spec.target} in {project} ({env}): Eventarc trigger on "
                    f"Firestore writes of {FLAG_DOCUMENTS}, with retries",
                    self._deploy(spec, project, trigger),
                )
            )
            self._invoker(spec, project)

    def remote_config_functions(self) -> None:
        spec = remote_config_function()
        # Remote Config events are global: the trigger lives in location `global`.
        trigger = ("--trigger-location=global", f"--trigger-event-filters=type={RC_UPDATED}")
        for env, project in self.i.env_projects.items():
            self.add(
                Step(
                    f"Deploy {spec.target} in {project} ({env}): Eventarc trigger on Remote "
                    "Config template updates, with retries",
                    self._deploy(spec, project, trigger),
                )
            )
            self._invoker(spec, project)

    def crashlytics_functions(self) -> None:
        spec = crashlytics_function()
        for env, project in self.i.env_projects.items():
            for alert in DEPLOYED_ALERTS:
                name = crashlytics_function_name(alert)
                # Firebase Alerts are global; each trigger matches one alert type
                trigger = (
                    "--trigger-location=global",
                    f"--trigger-event-filters=type={ALERT_EVENT}",
                    f"--trigger-event-filters=alerttype={alert}",
                )
                self.add(
                    Step(
                        f"Deploy {name} in {project} ({env}): Eventarc trigger on Crashlytics "
                        f"{alert} alerts, with retries",
                        self._deploy(spec, project, trigger, name),
                    )
                )
                self._invoker(spec, project, name)

    # --- scheduler, rules, indexes ----------------------------------------------------------

    def scheduler(self) -> None:
        common = (
            f"--location={self.i.region}", f"--schedule={TICK_SCHEDULE}",
            f"--topic={MONITORING_TICKS}", "--message-body={}", "--time-zone=Etc/UTC",
            f"--project={self.c}",
        )  # fmt: skip
        self.add(
            Step(
                f"Cloud Scheduler job {SCHEDULER_JOB} publishes {{}} to {MONITORING_TICKS} "
                "every minute (updated when it exists)",
                check=("gcloud", "scheduler", "jobs", "describe", SCHEDULER_JOB,
                       f"--location={self.i.region}", f"--project={self.c}"),
                update=("gcloud", "scheduler", "jobs", "update", "pubsub", SCHEDULER_JOB,
                        *common),
                run=("gcloud", "scheduler", "jobs", "create", "pubsub", SCHEDULER_JOB, *common),
            )
        )  # fmt: skip

    def rules(self) -> None:
        self.add(
            Step(
                f"Security rules (firestore.rules) and indexes (firestore.indexes.json) of "
                f"{self.c}",
                ("firebase", "deploy", "--only", "firestore:rules,firestore:indexes",
                 f"--project={self.c}", f"--config={CONTROL_FIREBASE_CONFIG}",
                 "--non-interactive"),
            )
        )  # fmt: skip
        if not self.i.app_rules:
            return
        for env, project in self.i.env_projects.items():
            self.add(
                Step(
                    f"App-side rules (config/app-firestore.rules) of {project} ({env}): "
                    "flags readable by everyone, written by nobody but the admin SDK",
                    ("firebase", "deploy", "--only", "firestore:rules", f"--project={project}",
                     f"--config={APP_FIREBASE_CONFIG}", "--non-interactive"),
                )
            )  # fmt: skip


# The Firebase Web API key the dashboard signs people in with (Firebase's auto-created
# "Browser key"): looked up at deploy time, not a secret (every web app ships it).
_SIGN_IN_VARS = ("DASHBOARD_KEY_NAME", "FIREBASE_WEB_API_KEY")  # shell variables of the plan
KEY_NAME_VAR, API_KEY_VAR = _SIGN_IN_VARS


def build_plan(inputs: DeployInputs) -> Plan:
    """Every command that deploys the control plane for `inputs`, in the order they run."""
    b = _Builder(inputs)
    b.apis()
    b.database()
    b.topics()
    b.accounts()
    b.backup_buckets()
    b.grants()
    b.functions()
    b.dead_letter_functions()
    b.flag_functions()
    b.dashboard()
    b.remote_config_functions()
    b.crashlytics_functions()
    b.scheduler()
    b.rules()
    envs = ", ".join(f"{e}={p}" for e, p in inputs.env_projects.items())
    title = f"control project {inputs.control_project} ({inputs.region}); environments {envs}"
    return Plan(title=title, steps=tuple(b.steps))
