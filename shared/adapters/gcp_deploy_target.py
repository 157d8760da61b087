"""The `DeployTarget` on Google Cloud: a Firebase project's functions, rules, indexes and hosting.

`deploy` runs inside the deploy Cloud Build (its workspace is the release's source): it runs
`firebase deploy`, then records what now serves as flat references (`shared.adapters.
gcp_artifacts`). `restore` runs in a rollback and points each platform back at a recorded
reference: Cloud Run traffic to a revision, a Hosting release of a version, the Rules release
to a ruleset, and the recorded composite indexes created again. Nothing here reads or writes
Firestore documents. See docs/ROLLBACK.md.

Every client is a constructor parameter built on first use, so tests pass fakes and a cold
start does not pay for google-cloud-run unless a deploy or a restore runs.
"""

from __future__ import annotations

import json
import logging
import subprocess  # nosec B404 -- subprocess runs fixed argv lists, never a shell
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tenacity.wait import wait_base

from shared.adapters import gcp_artifacts as art
from shared.adapters.gcp_rest import (
    GoogleApiError,
    HttpSession,
    authorized_session,
    call,
    default_wait,
    parse,
    retried,
)
from shared.config import EnvConfig
from shared.domain.messages import CheckResult, StepReport
from shared.domain.model import Deployed, DeployPart
from shared.errors import ControlPlaneError

log = logging.getLogger(__name__)

HOSTING_API = "https://firebasehosting.googleapis.com/v1beta1"
RULES_API = "https://firebaserules.googleapis.com/v1"
FIRESTORE_API = "https://firestore.googleapis.com/v1"
FIREBASE_ONLY = ("functions", "firestore:rules", "firestore:indexes", "hosting")
# What each part of a deploy is (docs/CANARY.md): 2nd-gen functions are Cloud Run services and
# can split traffic; Hosting, Firestore rules and indexes serve one version at a time.
FIREBASE_PARTS: dict[DeployPart, tuple[str, ...]] = {
    "all": FIREBASE_ONLY,
    "split": ("functions",),
    "rest": ("firestore:rules", "firestore:indexes", "hosting"),
}
DEFAULT_INDEXES_FILE = "firestore.indexes.json"
FIREBASE_TIMEOUT_S = 45 * 60
OPERATION_TIMEOUT_S = 10 * 60

CommandRunner = Callable[[Sequence[str], Path], int]
"""Runs a command in a directory and returns its exit code (output goes to the build log)."""


class DeployFailed(ControlPlaneError):
    """`firebase deploy` failed, or what it deployed could not be recorded for a rollback."""


def firebase_deploy_command(
    project: str, *, firebase: str = "firebase", part: DeployPart = "all"
) -> list[str]:
    # --force: delete functions and indexes the release no longer has, and answer prompts
    # with yes (a build has no one to ask); --non-interactive makes any other prompt an error.
    only = ",".join(FIREBASE_PARTS[part])
    return [
        firebase,
        "deploy",
        "--only",
        only,
        "--project",
        project,
        "--non-interactive",
        "--force",
    ]


def run_command(command: Sequence[str], cwd: Path) -> int:
    return subprocess.run(  # nosec B603 -- the firebase CLI with validated arguments, no shell
        list(command), cwd=cwd, check=False, timeout=FIREBASE_TIMEOUT_S
    ).returncode


def indexes_path(firebase_json: dict[str, Any]) -> str:
    """Where `firebase.json` puts the default database's indexes (a list form names databases)."""
    section = firebase_json.get("firestore")
    if isinstance(section, list):
        default = [s for s in section if s.get("database", "(default)") == "(default)"]
        section = default[0] if default else None
    if isinstance(section, dict):
        return str(section.get("indexes", DEFAULT_INDEXES_FILE))
    return DEFAULT_INDEXES_FILE


def _run_client() -> Any:
    from google.cloud import run_v2  # heavy: only when a deploy or a restore runs

    return run_v2.ServicesClient()


def _traffic(*, revision: str | None) -> list[Any]:
    """All traffic to `revision`, or to the latest ready revision when it is None."""
    from google.cloud import run_v2

    kind = run_v2.TrafficTargetAllocationType
    if revision is None:
        return [run_v2.TrafficTarget(type_=kind.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, percent=100)]
    return _split(revision, None, 100)


def _split(canary: str, stable: str | None, percent: int) -> list[Any]:
    """`percent` to the `canary` revision and the rest to `stable` (revision targets)."""
    from google.cloud import run_v2

    kind = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
    if stable is None or stable == canary or percent >= 100:
        return [run_v2.TrafficTarget(type_=kind, revision=canary, percent=100)]
    return [
        run_v2.TrafficTarget(type_=kind, revision=stable, percent=100 - percent),
        run_v2.TrafficTarget(type_=kind, revision=canary, percent=percent),
    ]


def _configured(targets: Sequence[Any]) -> list[tuple[Any, str, int]]:
    return sorted((t.type_, t.revision, t.percent) for t in targets)


def _pinned_to(service: Any, revision: str | None) -> bool:
    """True when the service's configured traffic is already exactly `_traffic(revision)`."""
    return _configured(service.traffic) == _configured(_traffic(revision=revision))


class GoogleCloudDeployTarget:
    def __init__(
        self,
        *,
        run_client: Any = None,
        http: HttpSession | None = None,
        runner: CommandRunner = run_command,
        workspace: Path | None = None,
        firebase: str = "firebase",
        retry_wait: wait_base | None = None,
        attempts: int = 5,
        operation_timeout: float = OPERATION_TIMEOUT_S,
    ) -> None:
        self._run_client, self._session = run_client, http
        self.runner, self.workspace, self.firebase = runner, workspace, firebase
        self.retry_wait, self.attempts = retry_wait or default_wait(), attempts
        self.operation_timeout = operation_timeout

    # --- clients, built on first use -----------------------------------------------------

    def _run(self) -> Any:
        if self._run_client is None:
            self._run_client = _run_client()
        return self._run_client

    def _http(self) -> HttpSession:
        if self._session is None:
            self._session = authorized_session()
        return self._session

    def _retried(self, work: Callable[[], Any]) -> Any:
        return retried(work, wait=self.retry_wait, attempts=self.attempts)

    def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._retried(lambda: call(self._http(), method, url, **kwargs))
        return result

    # --- deploy --------------------------------------------------------------------------

    def deploy(self, release: str, env: EnvConfig, part: DeployPart = "all") -> dict[str, str]:
        workspace = self.workspace or Path.cwd()
        # canary steps: what serves now keeps all traffic; the new revisions start at 0 %
        held = self._serving_functions(env) if part == "split" else {}
        command = firebase_deploy_command(env.project, firebase=self.firebase, part=part)
        log.info("deploying %s (%s) to %s: %s", release, part, env.project, " ".join(command))
        code = self.runner(command, workspace)
        if code != 0:
            raise DeployFailed(f"firebase deploy of {release} to {env.project} exited {code}")
        try:
            return self.record(env, workspace, held, part)
        except Exception as exc:
            # The release serves but could not be recorded: fail the step so the rollout rolls
            # back now, rather than go live with nothing a later rollback could restore.
            raise DeployFailed(
                f"{release} deployed to {env.project} but not recorded: {exc}"
            ) from exc

    def record(
        self,
        env: EnvConfig,
        workspace: Path,
        held: dict[str, str] | None = None,
        part: DeployPart = "all",
    ) -> dict[str, str]:
        """The references of what serves in `env` now of what `part` deployed. A function
        service in `held` (key -> the stable revision) is pinned to it and its new revision
        recorded."""
        functions = self._record_functions(env, held or {}) if part != "rest" else {}
        if part == "split":
            return functions
        return {
            **functions,
            **self._record_hosting(env),
            **self._record_rules(env),
            **self._record_indexes(workspace),
        }

    def _function_services(self, env: EnvConfig) -> list[Any]:
        # Every region: a function may choose its own. Only Cloud Functions' services count.
        parent = f"projects/{env.project}/locations/-"
        services = self._retried(lambda: list(self._run().list_services(parent=parent)))
        return list(filter(art.is_function_service, services))

    def _serving_functions(self, env: EnvConfig) -> dict[str, str]:
        """Function service key -> the one revision serving all its traffic (before a deploy)."""
        serving = {
            art.run_key(s.name): art.serving_revision(s) for s in self._function_services(env)
        }
        return {key: rev for key, rev in serving.items() if rev}

    def _record_functions(self, env: EnvConfig, held: dict[str, str]) -> dict[str, str]:
        recorded = {}
        for service in self._function_services(env):
            key = art.run_key(service.name)
            if key in held:
                recorded[key] = self._hold(service, held[key])
                continue
            served = self._serve_latest(service)
            revision = art.serving_revision(served)
            if revision is None:
                raise DeployFailed(f"{service.name}: no single revision serves all traffic")
            recorded[art.run_key(service.name)] = revision
        if not recorded:
            log.warning("no 2nd-gen function services found in %s", env.project)
        return recorded

    def _hold(self, service: Any, stable: str) -> str:
        """Canary: `firebase deploy` made the new revision serve; all traffic back to `stable`
        (the new revision keeps 0 % until the first step). Returns the new revision."""
        new = art.short_revision(service.latest_ready_revision)
        if not new:
            raise DeployFailed(f"{service.name}: no ready revision after the deploy")
        if not _pinned_to(service, stable):
            log.info("%s: holding all traffic on %s; %s gets 0 %%", service.name, stable, new)
            self._set_traffic(service.name, revision=stable)
        return new

    def _serve_latest(self, service: Any) -> Any:
        # A rollback pins traffic to a revision, and Cloud Run keeps a pin across later
        # deploys; a deploy means "this release serves", so undo any pin.
        if _pinned_to(service, None):
            return service
        log.info("%s: sending all traffic to the latest revision", service.name)
        return self._set_traffic(service.name, revision=None)

    def _set_traffic(self, name: str, *, revision: str | None) -> Any:
        return self._set_targets(name, _traffic(revision=revision))

    def _set_targets(self, name: str, targets: list[Any]) -> Any:
        def attempt() -> Any:
            service = self._run().get_service(name=name)  # fresh etag on every attempt
            service.traffic = targets
            # a long-running operation: its result is the service as it now is
            operation = self._run().update_service(service=service)
            return operation.result(timeout=self.operation_timeout)

        return self._retried(attempt)

    def _sites(self, project: str) -> Iterator[art.Site]:
        url, token = f"{HOSTING_API}/projects/{project}/sites", ""
        while True:
            params = {"pageToken": token} if token else None
            page = parse(art.SiteList, self._call("GET", url, params=params), url)
            yield from page.sites
            if not (token := page.next_page_token):
                return

    def _live_version(self, site: str) -> str | None:
        url = f"{HOSTING_API}/sites/{site}/channels/live"
        release = parse(art.Channel, self._call("GET", url), url).release
        version = release.version if release is not None else None
        return version.name if version is not None else None

    def _record_hosting(self, env: EnvConfig) -> dict[str, str]:
        recorded = {}
        for site in self._sites(env.project):
            version = self._live_version(site.site_id)
            if version is not None:  # a site that never had a release has nothing to restore
                recorded[art.HOSTING_PREFIX + site.site_id] = version
        return recorded

    def _record_rules(self, env: EnvConfig) -> dict[str, str]:
        url = f"{RULES_API}/projects/{env.project}/releases/cloud.firestore"
        release = parse(art.RulesRelease, self._call("GET", url), url)
        return {art.RULES_FIRESTORE: release.ruleset_name}

    def _record_indexes(self, workspace: Path) -> dict[str, str]:
        config = workspace / "firebase.json"
        firebase_json = json.loads(config.read_text(encoding="utf-8")) if config.exists() else {}
        path = indexes_path(firebase_json)
        file = workspace / path
        if not file.exists():
            return {}
        return art.index_artifacts(path, file.read_text(encoding="utf-8"))

    # --- canary steps ----------------------------------------------------------------------

    def split(
        self, canary: dict[str, str], stable: Deployed | None, percent: int, env: EnvConfig
    ) -> StepReport:
        keys = sorted(k for k in canary if k.startswith(art.RUN_PREFIX))
        if not keys:
            summary = f"no Cloud Run revision is recorded for the new release in {env.name}"
            return StepReport(ran=True, ok=False, summary=summary)
        old = stable.artifacts if stable is not None else {}
        checks = tuple(self._split_one(k, canary[k], old.get(k), percent, env) for k in keys)
        failed = [c.name for c in checks if not c.ok]
        summary = (
            f"{percent} % to the new revision of {len(checks)} services in {env.name}"
            if not failed
            else f"traffic not split in {env.name}: {', '.join(failed)}"
        )
        return StepReport(ran=True, ok=not failed, summary=summary, checks=checks)

    def _split_one(
        self, key: str, canary: str, stable: str | None, percent: int, env: EnvConfig
    ) -> CheckResult:
        evidence = {"canary": canary, "stable": stable, "percent": percent}
        try:
            name = art.run_service_name(key, env.project)
            wanted = _split(canary, stable, percent)
            service = self._retried(lambda: self._run().get_service(name=name))
            if _configured(service.traffic) == _configured(wanted):
                detail = f"already {percent} % to {canary}"
            else:
                self._set_targets(name, wanted)
                detail = f"{percent} % to {canary}, {100 - percent} % to {stable}"
                if stable is None or stable == canary:
                    detail = f"all traffic to {canary} (no stable revision to split with)"
        except Exception as exc:  # one service's failure must not hide the others'
            log.exception("splitting traffic of %s failed", key)
            return CheckResult(name=key, ok=False, detail=str(exc), evidence=evidence)
        return CheckResult(name=key, ok=True, detail=detail, evidence=evidence)

    # --- restore -------------------------------------------------------------------------

    def restore(self, target: Deployed, env: EnvConfig) -> StepReport:
        if not target.artifacts:
            return StepReport(
                ran=True, ok=False, summary=f"{target.release}: nothing was recorded to restore"
            )
        checks = tuple(self._restore_one(key, target, env) for key in _restorable(target))
        failed = [c.name for c in checks if not c.ok]
        summary = (
            f"restored {len(checks)} artifacts of {target.release} in {env.name}"
            if not failed
            else f"{len(failed)} of {len(checks)} artifacts of {target.release} not restored "
            f"in {env.name}: {', '.join(failed)}"
        )
        detail = {"release": target.release, "project": env.project}
        return StepReport(ran=True, ok=not failed, summary=summary, checks=checks, detail=detail)

    def _restore_one(self, key: str, target: Deployed, env: EnvConfig) -> CheckResult:
        value = target.artifacts[key]
        evidence: dict[str, Any] = {"artifact": key, "target": value}
        try:
            restorer = _restorer(key)
            outcome = restorer(self, key, target.artifacts, env)
        except Exception as exc:  # one artifact's failure must not stop the others
            log.exception("restoring %s of %s failed", key, target.release)
            return CheckResult(name=key, ok=False, detail=str(exc), evidence=evidence)
        return CheckResult(name=key, ok=True, detail=outcome, evidence=evidence)

    def _restore_run(self, key: str, artifacts: dict[str, str], env: EnvConfig) -> str:
        revision = artifacts[key]
        name = art.run_service_name(key, env.project)
        service = self._retried(lambda: self._run().get_service(name=name))
        if _pinned_to(service, revision):
            return f"{revision} already receives all traffic"
        self._set_traffic(name, revision=revision)
        return f"all traffic sent to {revision} (was {art.serving_revision(service) or 'split'})"

    def _restore_hosting(self, key: str, artifacts: dict[str, str], env: EnvConfig) -> str:
        site, version = key.removeprefix(art.HOSTING_PREFIX), artifacts[key]
        if not version.startswith(f"sites/{site}/versions/"):
            raise art.BadArtifact(f"expected sites/{site}/versions/<id>, found {version!r}")
        live = self._live_version(site)
        if live == version:
            return f"{version} is already live"
        url = f"{HOSTING_API}/sites/{site}/releases"
        body = {"message": "rollback by releasectl"}
        self._call("POST", url, params={"versionName": version}, body=body)
        return f"released {version} (was {live or 'nothing'})"

    def _restore_rules(self, key: str, artifacts: dict[str, str], env: EnvConfig) -> str:
        name = f"projects/{env.project}/releases/cloud.firestore"
        ruleset = artifacts[key]
        if not ruleset.startswith(f"projects/{env.project}/rulesets/"):
            raise art.BadArtifact(
                f"expected projects/{env.project}/rulesets/<id>, found {ruleset!r}"
            )
        body = {"release": {"name": name, "rulesetName": ruleset}, "updateMask": "rulesetName"}
        self._call("PATCH", f"{RULES_API}/{name}", body=body)
        return f"cloud.firestore points at {ruleset}"

    def _restore_indexes(self, key: str, artifacts: dict[str, str], env: EnvConfig) -> str:
        content = artifacts.get(art.INDEXES_JSON)
        if content is None:
            path = artifacts.get(art.INDEXES_FILE, DEFAULT_INDEXES_FILE)
            raise DeployFailed(
                f"{path} was too large to record; re-apply it from the release's source with "
                "`firebase deploy --only firestore:indexes`"
            )
        if art.sha256_ref(content) != artifacts[key]:
            raise DeployFailed(f"the recorded indexes file does not match {artifacts[key]}")
        spec = art.IndexFile.model_validate_json(content)
        created = sum(self._create_index(env.project, index) for index in spec.indexes)
        note = f"; {len(spec.field_overrides)} field overrides not re-applied"
        return (
            f"{created} composite indexes created again (building), "
            f"{len(spec.indexes) - created} already present; indexes added since are kept"
            + (note if spec.field_overrides else "")
        )

    def _create_index(self, project: str, index: art.IndexSpec) -> bool:
        """True when created, False when it already exists (409)."""
        url = (
            f"{FIRESTORE_API}/projects/{project}/databases/(default)/collectionGroups/"
            f"{index.collection_group}/indexes"
        )
        try:
            self._call("POST", url, body=index.admin_body())
        except GoogleApiError as exc:
            if exc.status == 409:
                return False
            raise
        return True


Restorer = Callable[[GoogleCloudDeployTarget, str, dict[str, str], EnvConfig], str]

# Artifact key → how to restore it. `indexes:file` and `indexes:json` travel with `indexes`.
_RESTORERS: dict[str, Restorer] = {
    art.RUN_PREFIX: GoogleCloudDeployTarget._restore_run,
    art.HOSTING_PREFIX: GoogleCloudDeployTarget._restore_hosting,
    art.RULES_FIRESTORE: GoogleCloudDeployTarget._restore_rules,
    art.INDEXES: GoogleCloudDeployTarget._restore_indexes,
}
_COMPANIONS = frozenset({art.INDEXES_FILE, art.INDEXES_JSON})


def _restorable(target: Deployed) -> list[str]:
    return sorted(k for k in target.artifacts if k not in _COMPANIONS)


def _restorer(key: str) -> Restorer:
    for prefix, restorer in _RESTORERS.items():
        if key == prefix or (prefix.endswith(":") and key.startswith(prefix)):
            return restorer
    raise art.BadArtifact(f"unknown artifact {key!r}: this deploy target cannot restore it")


def gcp_deploy_target() -> GoogleCloudDeployTarget:
    """The production adapter: Application Default Credentials, clients built on first use."""
    return GoogleCloudDeployTarget()
