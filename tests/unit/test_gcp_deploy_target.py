"""The Google Cloud deploy target against fakes of Cloud Run, the Firebase REST APIs and the
firebase command line. Nothing here reaches Google Cloud; the fakes keep state the way the
platform does (a release points at a version, traffic at a revision), so a deploy → restore
round trip can be checked by what serves afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import run_v2
from tenacity import wait_none

from shared.adapters import gcp_artifacts as art
from shared.adapters.gcp_deploy_target import (
    DeployFailed,
    GoogleCloudDeployTarget,
    firebase_deploy_command,
    gcp_deploy_target,
    indexes_path,
)
from shared.config import EnvConfig
from shared.domain.model import Deployed

PROJECT = "demo-avalo-staging"
ENV = EnvConfig(name="staging", project=PROJECT)
HOSTING = "https://firebasehosting.googleapis.com/v1beta1"
RULES = "https://firebaserules.googleapis.com/v1"
FIRESTORE = "https://firestore.googleapis.com/v1"
RULES_RELEASE = f"{RULES}/projects/{PROJECT}/releases/cloud.firestore"
KIND = run_v2.TrafficTargetAllocationType
LATEST, REVISION = (
    KIND.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST,
    KIND.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
)
INDEXES = {
    "indexes": [
        {
            "collectionGroup": "payments",
            "queryScope": "COLLECTION",
            "fields": [
                {"fieldPath": "userId", "order": "ASCENDING"},
                {"fieldPath": "createdAt", "order": "DESCENDING"},
            ],
        },
        {
            "collectionGroup": "chats",
            "queryScope": "COLLECTION_GROUP",
            "fields": [{"fieldPath": "members", "arrayConfig": "CONTAINS"}],
        },
    ],
    "fieldOverrides": [],
}


# --- fakes -------------------------------------------------------------------------------


def service_name(name: str, region: str = "europe-west1") -> str:
    return f"projects/{PROJECT}/locations/{region}/services/{name}"


def copy(service: run_v2.Service) -> run_v2.Service:
    copied: run_v2.Service = run_v2.Service.deserialize(run_v2.Service.serialize(service))
    return copied


def grpc_error(kind: type[Exception], message: str) -> Exception:
    """google-api-core's exceptions are untyped; build them through a typed door."""
    return kind(message)


class FakeOperation:
    def __init__(self, result: run_v2.Service) -> None:
        self._result = result
        self.waited_with: float | None = None

    def result(self, timeout: float | None = None) -> run_v2.Service:
        self.waited_with = timeout
        return self._result


class FakeRun:
    """`run_v2.ServicesClient` over a dict of services; Cloud Run's reconciliation happens at
    once (traffic_statuses follow traffic when an update completes)."""

    def __init__(self) -> None:
        self.services: dict[str, run_v2.Service] = {}
        self.updates: list[run_v2.Service] = []
        self.operations: list[FakeOperation] = []
        self.fail_updates: list[Exception] = []
        self.list_parents: list[str] = []

    def add(self, name: str, revision: str, *, managed_by: str = "cloudfunctions") -> None:
        full = f"{name}/revisions/{revision}"
        service = run_v2.Service(
            name=name,
            labels={"goog-managed-by": managed_by} if managed_by else {},
            latest_ready_revision=full,
            traffic=[run_v2.TrafficTarget(type_=LATEST, percent=100)],
        )
        self.services[name] = self._reconciled(service)

    def new_revision(self, name: str, revision: str) -> None:
        """A deploy: a new latest revision; traffic follows it only if not pinned."""
        service = self.services[name]
        service.latest_ready_revision = f"{name}/revisions/{revision}"
        self.services[name] = self._reconciled(service)

    def serving(self, name: str) -> str:
        (status,) = [s for s in self.services[name].traffic_statuses if s.percent == 100]
        return str(status.revision)

    def _reconciled(self, service: run_v2.Service) -> run_v2.Service:
        latest = art.short_revision(service.latest_ready_revision)
        service.traffic_statuses = [
            run_v2.TrafficTargetStatus(
                type_=t.type_, revision=t.revision or latest, percent=t.percent
            )
            for t in service.traffic
        ]
        return service

    def list_services(self, *, parent: str) -> list[run_v2.Service]:
        self.list_parents.append(parent)
        return [copy(s) for s in self.services.values()]

    def get_service(self, *, name: str) -> run_v2.Service:
        if name not in self.services:
            raise grpc_error(gexc.NotFound, name)
        return copy(self.services[name])

    def update_service(self, *, service: run_v2.Service) -> FakeOperation:
        self.updates.append(copy(service))
        if self.fail_updates:
            raise self.fail_updates.pop(0)
        self.services[service.name] = self._reconciled(copy(service))
        operation = FakeOperation(copy(self.services[service.name]))
        self.operations.append(operation)
        return operation


@dataclass
class FakeResponse:
    status_code: int
    body: Any = None

    @property
    def text(self) -> str:
        return "" if self.body is None else json.dumps(self.body)

    def json(self) -> Any:
        return self.body


@dataclass
class Request:
    method: str
    url: str
    params: dict[str, str] | None
    json: dict[str, Any] | None


@dataclass
class FakeFirebase:
    """The authorized session, in front of a fake of Hosting, Rules and Firestore indexes."""

    live: dict[str, str | None] = field(default_factory=dict)  # site -> live version
    ruleset: str = ""
    indexes: set[str] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)
    # (method, url) -> statuses to answer before serving normally (e.g. [503] or [403])
    failures: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        self.requests.append(Request(method, url, kwargs.get("params"), kwargs.get("json")))
        pending = self.failures.get((method, url), [])
        if pending:
            return FakeResponse(pending.pop(0), {"error": {"message": "injected"}})
        return self._serve(method, url, kwargs.get("params") or {}, kwargs.get("json") or {})

    def sent(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.method == method]

    def _serve(self, method: str, url: str, params: dict[str, str], body: Any) -> FakeResponse:
        if (method, url) == ("GET", f"{HOSTING}/projects/{PROJECT}/sites"):
            sites = [{"name": f"projects/{PROJECT}/sites/{s}"} for s in self.live]
            return FakeResponse(200, {"sites": sites})
        if method == "GET" and url.endswith("/channels/live"):
            version = self.live[url.split("/")[-3]]
            release = {"version": {"name": version}} if version else None
            return FakeResponse(200, {"name": "live", **({"release": release} if release else {})})
        if method == "POST" and url.startswith(f"{HOSTING}/sites/"):
            self.live[url.split("/")[-2]] = params["versionName"]
            return FakeResponse(200, {"name": "r", "version": {"name": params["versionName"]}})
        if url == RULES_RELEASE:
            if method == "PATCH":
                self.ruleset = body["release"]["rulesetName"]
            return FakeResponse(200, {"name": "cloud.firestore", "rulesetName": self.ruleset})
        if method == "POST" and url.startswith(f"{FIRESTORE}/"):
            key = url + json.dumps(body, sort_keys=True)
            if key in self.indexes:
                return FakeResponse(409, {"error": {"status": "ALREADY_EXISTS"}})
            self.indexes.add(key)
            return FakeResponse(200, {"name": "operations/1"})
        return FakeResponse(404, {"error": {"status": "NOT_FOUND"}})


@dataclass
class FakeFirebaseCli:
    exit_code: int = 0
    calls: list[tuple[list[str], Path]] = field(default_factory=list)

    def __call__(self, command: Sequence[str], cwd: Path) -> int:
        self.calls.append((list(command), cwd))
        return self.exit_code


@dataclass
class World:
    run: FakeRun
    firebase: FakeFirebase
    cli: FakeFirebaseCli
    workspace: Path
    target: GoogleCloudDeployTarget


@pytest.fixture
def world(tmp_path: Path) -> World:
    run, firebase, cli = FakeRun(), FakeFirebase(), FakeFirebaseCli()
    run.add(service_name("api"), "api-00001-aaa")
    run.add(service_name("onpayment", "us-central1"), "onpayment-00001-bbb")
    run.add(service_name("not-a-function"), "x-00001-ccc", managed_by="")
    firebase.live = {"avalo-app": "sites/avalo-app/versions/v1", "empty-site": None}
    firebase.ruleset = f"projects/{PROJECT}/rulesets/rules-v1"
    (tmp_path / "firebase.json").write_text(json.dumps({"firestore": {"indexes": "idx.json"}}))
    (tmp_path / "idx.json").write_text(json.dumps(INDEXES, indent=2))
    target = GoogleCloudDeployTarget(
        run_client=run, http=firebase, runner=cli, workspace=tmp_path, retry_wait=wait_none()
    )
    return World(run, firebase, cli, tmp_path, target)


def deployed(artifacts: dict[str, str]) -> Deployed:
    return Deployed(release="1.0.0", artifacts=artifacts, since=datetime(2026, 11, 25, tzinfo=UTC))


def ship_v2(w: World) -> None:
    """What a later `firebase deploy` of another release changes on the platform."""
    w.run.new_revision(service_name("api"), "api-00002-ddd")
    w.run.new_revision(service_name("onpayment", "us-central1"), "onpayment-00002-eee")
    w.firebase.live["avalo-app"] = "sites/avalo-app/versions/v2"
    w.firebase.ruleset = f"projects/{PROJECT}/rulesets/rules-v2"


# --- the firebase command line -----------------------------------------------------------


def test_the_firebase_command_deploys_every_part_to_the_env_project_without_prompts() -> None:
    assert firebase_deploy_command("demo-avalo-production") == [
        "firebase",
        "deploy",
        "--only",
        "functions,firestore:rules,firestore:indexes,hosting",
        "--project",
        "demo-avalo-production",
        "--non-interactive",
        "--force",
    ]


def test_deploy_runs_firebase_in_the_workspace(world: World) -> None:
    world.target.deploy("1.0.0", ENV)
    assert world.cli.calls == [(firebase_deploy_command(PROJECT), world.workspace)]


def test_a_failed_firebase_deploy_raises_and_records_nothing(world: World) -> None:
    world.cli.exit_code = 2
    with pytest.raises(DeployFailed, match="exited 2"):
        world.target.deploy("1.0.0", ENV)
    assert world.firebase.requests == [] and world.run.list_parents == []


# --- recording ---------------------------------------------------------------------------


def test_deploy_records_what_serves_from_the_platform_answers(world: World) -> None:
    artifacts = world.target.deploy("1.0.0", ENV)
    content = (world.workspace / "idx.json").read_text()
    assert artifacts == {
        "run:europe-west1/api": "api-00001-aaa",
        "run:us-central1/onpayment": "onpayment-00001-bbb",
        "hosting:avalo-app": "sites/avalo-app/versions/v1",
        "rules:cloud.firestore": f"projects/{PROJECT}/rulesets/rules-v1",
        "indexes": art.sha256_ref(content),
        "indexes:file": "idx.json",
        "indexes:json": content,
    }
    assert world.run.list_parents == [f"projects/{PROJECT}/locations/-"]
    assert [r.url for r in world.firebase.sent("GET")] == [
        f"{HOSTING}/projects/{PROJECT}/sites",
        f"{HOSTING}/sites/avalo-app/channels/live",
        f"{HOSTING}/sites/empty-site/channels/live",
        RULES_RELEASE,
    ]


def test_deploy_sends_traffic_of_a_pinned_function_back_to_the_latest_revision(
    world: World,
) -> None:
    world.target.restore(deployed({"run:europe-west1/api": "api-00001-aaa"}), ENV)
    world.run.new_revision(service_name("api"), "api-00002-ddd")
    assert world.run.serving(service_name("api")) == "api-00001-aaa"  # the pin holds

    artifacts = world.target.deploy("2.0.0", ENV)

    assert artifacts["run:europe-west1/api"] == "api-00002-ddd"
    (target,) = world.run.updates[-1].traffic
    assert (target.type_, target.revision, target.percent) == (LATEST, "", 100)


def test_indexes_path_follows_firebase_json() -> None:
    assert indexes_path({}) == "firestore.indexes.json"
    assert indexes_path({"firestore": {"rules": "r"}}) == "firestore.indexes.json"
    assert indexes_path({"firestore": {"indexes": "db/idx.json"}}) == "db/idx.json"
    listed = [{"database": "other", "indexes": "o.json"}, {"database": "(default)", "indexes": "d"}]
    assert indexes_path({"firestore": listed}) == "d"


def test_a_large_indexes_file_is_recorded_by_hash_and_path_only() -> None:
    big = json.dumps({**INDEXES, "pad": "x" * art.INLINE_INDEXES_MAX_CHARS})
    recorded = art.index_artifacts("firestore.indexes.json", big)
    assert set(recorded) == {"indexes", "indexes:file"}


def test_deploy_fails_when_what_serves_cannot_be_recorded(world: World) -> None:
    world.firebase.failures[("GET", RULES_RELEASE)] = [403]
    with pytest.raises(DeployFailed, match=r"deployed to .* but not recorded: .*403"):
        world.target.deploy("1.0.0", ENV)


# --- restore: exact requests per artifact ------------------------------------------------


def test_restore_pins_a_function_service_to_the_recorded_revision(world: World) -> None:
    report = world.target.restore(deployed({"run:europe-west1/api": "api-00000-old"}), ENV)

    assert report.ok, report
    assert report.checks[0].detail == "all traffic sent to api-00000-old (was api-00001-aaa)"
    (update,) = world.run.updates
    assert update.name == service_name("api")
    (target,) = update.traffic
    assert (target.type_, target.revision, target.percent) == (REVISION, "api-00000-old", 100)
    assert world.run.operations[0].waited_with == world.target.operation_timeout


def test_restore_leaves_a_service_already_pinned_to_the_revision_alone(world: World) -> None:
    record = deployed({"run:europe-west1/api": "api-00001-aaa"})
    world.target.restore(record, ENV)
    report = world.target.restore(record, ENV)
    assert report.ok and "already" in report.checks[0].detail
    assert len(world.run.updates) == 1


def test_restore_releases_the_recorded_hosting_version(world: World) -> None:
    version = "sites/avalo-app/versions/v0"
    report = world.target.restore(deployed({"hosting:avalo-app": version}), ENV)

    assert report.ok, report
    assert report.checks[0].detail == f"released {version} (was sites/avalo-app/versions/v1)"
    (post,) = world.firebase.sent("POST")
    assert post.url == f"{HOSTING}/sites/avalo-app/releases"
    assert post.params == {"versionName": version}
    assert post.json == {"message": "rollback by releasectl"}


def test_restore_does_not_release_a_hosting_version_that_is_already_live(world: World) -> None:
    record = deployed({"hosting:avalo-app": "sites/avalo-app/versions/v1"})
    assert world.target.restore(record, ENV).ok
    assert world.firebase.sent("POST") == []


def test_restore_points_the_firestore_rules_release_at_the_recorded_ruleset(world: World) -> None:
    ruleset = f"projects/{PROJECT}/rulesets/rules-v0"
    report = world.target.restore(deployed({"rules:cloud.firestore": ruleset}), ENV)

    assert report.ok, report
    (patch,) = world.firebase.sent("PATCH")
    assert patch.url == RULES_RELEASE
    assert patch.json == {
        "release": {
            "name": f"projects/{PROJECT}/releases/cloud.firestore",
            "rulesetName": ruleset,
        },
        "updateMask": "rulesetName",
    }


def test_restore_creates_the_recorded_composite_indexes_and_counts_existing_ones(
    world: World,
) -> None:
    artifacts = art.index_artifacts("firestore.indexes.json", json.dumps(INDEXES))
    world.target.restore(deployed(artifacts), ENV)  # creates both
    world.firebase.requests.clear()

    report = world.target.restore(deployed(artifacts), ENV)

    assert report.ok, report
    assert [c.name for c in report.checks] == ["indexes"]
    assert "0 composite indexes created again" in report.checks[0].detail
    assert "2 already present" in report.checks[0].detail
    first, second = world.firebase.sent("POST")
    assert first.url == (
        f"{FIRESTORE}/projects/{PROJECT}/databases/(default)/collectionGroups/payments/indexes"
    )
    assert first.json == {
        "queryScope": "COLLECTION",
        "fields": [
            {"fieldPath": "userId", "order": "ASCENDING"},
            {"fieldPath": "createdAt", "order": "DESCENDING"},
        ],
    }
    assert second.url.endswith("/collectionGroups/chats/indexes")


def test_restore_refuses_an_indexes_file_that_does_not_match_its_hash(world: World) -> None:
    artifacts = {**art.index_artifacts("f.json", json.dumps(INDEXES)), "indexes": "sha256:00"}
    report = world.target.restore(deployed(artifacts), ENV)
    assert not report.ok and "does not match" in report.checks[0].detail
    assert world.firebase.sent("POST") == []


def test_restore_without_the_inlined_indexes_file_says_how_to_apply_it(world: World) -> None:
    report = world.target.restore(deployed({"indexes": "sha256:ab", "indexes:file": "i.json"}), ENV)
    assert not report.ok
    assert "i.json" in report.checks[0].detail
    assert "firebase deploy --only firestore:indexes" in report.checks[0].detail


# --- failures and retries ----------------------------------------------------------------


def test_one_failed_artifact_is_reported_and_the_others_are_still_restored(world: World) -> None:
    world.firebase.failures[("POST", f"{HOSTING}/sites/avalo-app/releases")] = [403]
    ruleset = f"projects/{PROJECT}/rulesets/rules-v0"
    record = deployed(
        {
            "hosting:avalo-app": "sites/avalo-app/versions/v0",
            "rules:cloud.firestore": ruleset,
            "run:europe-west1/api": "api-00000-old",
            "storage:bucket": "gs://nope",
        }
    )

    report = world.target.restore(record, ENV)

    assert report.ran and not report.ok
    by_name = {c.name: c for c in report.checks}
    assert set(by_name) == set(record.artifacts)
    assert not by_name["hosting:avalo-app"].ok and "403" in by_name["hosting:avalo-app"].detail
    assert (
        not by_name["storage:bucket"].ok and "unknown artifact" in by_name["storage:bucket"].detail
    )
    assert by_name["rules:cloud.firestore"].ok and by_name["run:europe-west1/api"].ok
    assert by_name["hosting:avalo-app"].evidence == {
        "artifact": "hosting:avalo-app",
        "target": "sites/avalo-app/versions/v0",
    }
    assert world.firebase.ruleset == ruleset
    assert world.run.serving(service_name("api")) == "api-00000-old"
    assert "2 of 4 artifacts" in report.summary
    assert report.failures()[0].startswith("hosting:avalo-app: ")


def test_a_503_is_retried_until_it_succeeds(world: World) -> None:
    world.firebase.failures[("PATCH", RULES_RELEASE)] = [503, 503]
    ruleset = f"projects/{PROJECT}/rulesets/rules-v0"
    report = world.target.restore(deployed({"rules:cloud.firestore": ruleset}), ENV)
    assert report.ok, report
    assert len(world.firebase.sent("PATCH")) == 3
    assert world.firebase.ruleset == ruleset


def test_a_403_is_not_retried(world: World) -> None:
    world.firebase.failures[("PATCH", RULES_RELEASE)] = [403]
    ruleset = f"projects/{PROJECT}/rulesets/rules-v0"
    report = world.target.restore(deployed({"rules:cloud.firestore": ruleset}), ENV)
    assert not report.ok and "403" in report.checks[0].detail
    assert len(world.firebase.sent("PATCH")) == 1


def test_retries_stop_after_the_attempt_limit(world: World) -> None:
    world.firebase.failures[("PATCH", RULES_RELEASE)] = [503] * 10
    ruleset = f"projects/{PROJECT}/rulesets/rules-v0"
    report = world.target.restore(deployed({"rules:cloud.firestore": ruleset}), ENV)
    assert not report.ok and "503" in report.checks[0].detail
    assert len(world.firebase.sent("PATCH")) == world.target.attempts


def test_a_transient_grpc_error_from_cloud_run_is_retried_and_a_denial_is_not(
    world: World,
) -> None:
    world.run.fail_updates = [grpc_error(gexc.ServiceUnavailable, "try again")]
    record = deployed({"run:europe-west1/api": "api-00000-old"})
    assert world.target.restore(record, ENV).ok
    assert len(world.run.updates) == 2

    world.run.updates.clear()
    world.run.fail_updates = [grpc_error(gexc.PermissionDenied, "run.services.update")]
    report = world.target.restore(deployed({"run:europe-west1/api": "api-00001-aaa"}), ENV)
    assert not report.ok and "run.services.update" in report.checks[0].detail
    assert len(world.run.updates) == 1


def test_restoring_nothing_is_a_failure(world: World) -> None:
    report = world.target.restore(deployed({}), ENV)
    assert report.ran and not report.ok and "nothing was recorded" in report.summary


def test_a_malformed_reference_fails_its_own_check(world: World) -> None:
    record = deployed({"hosting:avalo-app": "sites/other/versions/v0", "run:bad": "r"})
    report = world.target.restore(record, ENV)
    assert [c.ok for c in report.checks] == [False, False]
    assert world.firebase.sent("POST") == [] and world.run.updates == []


# --- round trip --------------------------------------------------------------------------


def serving_now(w: World) -> dict[str, str]:
    return {
        "api": w.run.serving(service_name("api")),
        "onpayment": w.run.serving(service_name("onpayment", "us-central1")),
        "hosting": str(w.firebase.live["avalo-app"]),
        "rules": w.firebase.ruleset,
    }


def test_what_deploy_records_is_what_restore_needs_to_serve_it_again(world: World) -> None:
    recorded = world.target.deploy("1.0.0", ENV)
    v1 = serving_now(world)
    ship_v2(world)
    assert serving_now(world) != v1

    report = world.target.restore(deployed(recorded), ENV)

    assert report.ok, report.failures()
    assert serving_now(world) == v1
    assert sorted(c.name for c in report.checks) == sorted(
        k for k in recorded if k not in {"indexes:file", "indexes:json"}
    )


# --- construction ------------------------------------------------------------------------


def test_the_factory_builds_no_client_and_the_module_does_not_import_cloud_run() -> None:
    target = gcp_deploy_target()
    assert target._run_client is None and target._session is None
    probe = (
        "import sys, shared.adapters.gcp_deploy_target as m; m.gcp_deploy_target(); "
        "assert 'google.cloud.run_v2' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_a_canary_deploy_keeps_all_traffic_on_stable_and_records_the_new_revision(
    world: World,
) -> None:
    canary_env = ENV.model_copy(update={"canary": (10, 50)})
    commands: list[Sequence[str]] = []
    world.target.runner = lambda command, cwd: (commands.append(command), ship_v2(world), 0)[2]
    artifacts = world.target.deploy("2.0.0", canary_env, "split")
    assert commands == [firebase_deploy_command(PROJECT, part="split")]
    assert "--only" in commands[0] and "functions" in commands[0]  # nothing else yet
    # only the functions are recorded: Hosting, rules and indexes still serve the stable ones
    assert artifacts == {
        "run:europe-west1/api": "api-00002-ddd",
        "run:us-central1/onpayment": "onpayment-00002-eee",
    }
    assert world.run.serving(service_name("api")) == "api-00001-aaa"  # new revision at 0 %
    assert world.run.serving(service_name("onpayment", "us-central1")) == "onpayment-00001-bbb"
    report = world.target.split(
        artifacts, deployed({"run:europe-west1/api": "api-00001-aaa"}), 10, canary_env
    )
    assert report.ok
    split = {t.revision: t.percent for t in world.run.services[service_name("api")].traffic}
    assert split == {"api-00001-aaa": 90, "api-00002-ddd": 10}


def test_the_finish_deploy_ships_and_records_only_what_cannot_split_traffic(
    world: World,
) -> None:
    """After a canary: Hosting, rules and indexes; the functions' traffic is left alone."""
    commands: list[Sequence[str]] = []
    world.target.runner = lambda command, cwd: (commands.append(command), ship_v2(world), 0)[2]
    updates = len(world.run.updates)
    artifacts = world.target.deploy("2.0.0", ENV, "rest")
    only = commands[0][commands[0].index("--only") + 1]
    assert only == "firestore:rules,firestore:indexes,hosting"
    assert artifacts["hosting:avalo-app"] == "sites/avalo-app/versions/v2"
    assert artifacts["rules:cloud.firestore"] == f"projects/{PROJECT}/rulesets/rules-v2"
    assert "indexes" in artifacts
    assert not any(key.startswith("run:") for key in artifacts)
    assert world.run.list_parents == [] and len(world.run.updates) == updates
