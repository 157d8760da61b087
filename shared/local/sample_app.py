"""The local `DeployTarget`: each environment's sample app runs two versions (`stable` and
`canary`) behind a traffic-splitting router at the env's URL (`shared.local.router`).

Deploying switches a version slot to a release; with canary steps the new release goes to the
canary slot at 0 % (its own URL is recorded for the smoke tests) and each split sets the
router's share; after the last step the stable slot serves the new release, all traffic goes
there and the canary slot is retired. Restoring (a rollback, an abort) sends all traffic to the
stable slot serving the restored release. Every switch is checked over HTTP.

The sample app has no Hosting site, rules or indexes of its own: all of it can split traffic.
So the `finish` build after a canary (`part="rest"`) deploys nothing here; it checks that the
env's URL serves the release to everyone by then (the order Google Cloud's needs) and records
nothing more."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from shared.config import EnvConfig
from shared.domain.messages import CheckResult, StepReport
from shared.domain.model import OWN_URL, Deployed, DeployPart
from shared.errors import ControlPlaneError
from shared.local.router import STATUS_PATH, write_routes
from shared.local.state import App, StackState

MODE = "sample-app.mode"
VERSION = "sample-app.version"
SERVE_TIMEOUT_S = 15.0
# A release whose deploy fails on purpose (the other bad modes, `errors`, `slow` and `slower`,
# deploy fine and then misbehave: see examples/sample-app/app.py).
UNDEPLOYABLE = "undeployable"


def write_served(state_file: Path, version: str | None, mode: str) -> None:
    """Atomically point a version slot at a release (None: retired, it answers 503); a reader
    sees the old or the new, never half."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": version, "mode": mode}), encoding="utf-8")
    tmp.replace(state_file)


def serving(url: str) -> str | None:
    try:
        body = httpx.get(f"{url}/health", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return None
    version = body.get("version") if isinstance(body, dict) else None
    return str(version) if version is not None else None


def wait_serving(url: str, version: str, timeout: float = SERVE_TIMEOUT_S) -> bool:
    retrying = Retrying(
        retry=retry_if_result(lambda found: found != version),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.1),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    return bool(retrying(lambda: serving(url)) == version)


def canary_share(url: str) -> int | None:
    """The canary's share the router at `url` applies now (None: it does not answer)."""
    try:
        body = httpx.get(f"{url}{STATUS_PATH}", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return None
    share = body.get("canary") if isinstance(body, dict) else None
    return share if isinstance(share, int) else None


def serve_all(app: App, version: str, mode: str) -> bool:
    """The stable slot serves `version`, all traffic goes to it and the canary slot is retired;
    whether the env's URL then serves it."""
    write_served(app.stable.state_file, version, mode)
    stable_up = wait_serving(app.stable.url, version)
    write_routes(app.routes_file, 0)
    write_served(app.canary.state_file, None, "ok")
    return stable_up and canary_share(app.url) == 0 and wait_serving(app.url, version)


class LocalSampleApp:
    def __init__(self, stack: StackState, artifacts_of: Callable[[str], dict[str, str]]) -> None:
        self.stack = stack
        self.artifacts_of = artifacts_of  # a release's declared artifacts (e.g. a bad mode)

    def _app(self, env: EnvConfig) -> App:
        app = self.stack.apps.get(env.name)
        if app is None:
            raise ControlPlaneError(f"the local stack runs no sample app for {env.name}")
        return app

    def deploy(self, release: str, env: EnvConfig, part: DeployPart = "all") -> dict[str, str]:
        app = self._app(env)
        mode = self.artifacts_of(release).get(MODE, "ok")
        if mode == UNDEPLOYABLE:
            raise ControlPlaneError(f"release {release} cannot be deployed (mode {mode})")
        if part == "rest":
            if not wait_serving(app.url, release):
                raise ControlPlaneError(
                    f"{env.name} does not serve {release} to all traffic: nothing that cannot "
                    "split traffic may follow yet"
                )
            return {}
        stable = serving(app.stable.url)
        if part == "split" and stable is not None and stable != release:
            # beside the stable release, at 0 % until the first step's split
            write_served(app.canary.state_file, release, mode)
            if not wait_serving(app.canary.url, release):
                raise ControlPlaneError(f"{env.name}'s canary slot does not serve {release}")
            return {VERSION: release, MODE: mode, OWN_URL: app.canary.url}
        if not serve_all(app, release, mode):
            raise ControlPlaneError(f"sample app for {env.name} does not serve {release}")
        return {VERSION: release, MODE: mode}

    def restore(self, target: Deployed, env: EnvConfig) -> StepReport:
        app = self._app(env)
        version = target.artifacts.get(VERSION, target.release)
        ok = serve_all(app, version, target.artifacts.get(MODE, "ok"))
        check = CheckResult(
            name="sample-app",
            ok=ok,
            detail=f"{app.url} serves {version} (100 %)"
            if ok
            else f"{app.url} does not serve {version}",
            evidence={"url": app.url, "version": version, "served": serving(app.url)},
        )
        summary = f"restored {version} in {env.name}" if ok else check.detail
        return StepReport(ran=True, ok=ok, summary=summary, checks=(check,))

    def split(
        self, canary: dict[str, str], stable: Deployed | None, percent: int, env: EnvConfig
    ) -> StepReport:
        app = self._app(env)
        version = canary.get(VERSION)
        if version is None or OWN_URL not in canary:
            return StepReport.not_run(
                f"{env.name}: the new release was not deployed beside a stable one; it serves "
                f"all traffic (asked for {percent} %)",
                ok=True,
            )
        if percent >= 100:
            ok = serve_all(app, version, canary.get(MODE, "ok"))
            what = f"{version} 100 % (the stable slot), the canary slot retired"
            return _split_report(app, "promote", ok, what, version, percent)
        if serving(app.canary.url) != version:  # the deploy saw it serve: no waiting here
            what = f"the canary slot {app.canary.url} does not serve {version}"
            return _split_report(app, "canary", False, what, version, percent)
        write_routes(app.routes_file, percent)
        ok = canary_share(app.url) == percent
        names = f"{version} {percent} %" + (
            f", {stable.release} {100 - percent} %" if stable else ""
        )
        return _split_report(app, "router", ok, names, version, percent)


def _split_report(
    app: App, name: str, ok: bool, what: str, version: str, percent: int
) -> StepReport:
    check = CheckResult(
        name=f"router-{name}",
        ok=ok,
        detail=what if ok else f"not applied: {what}",
        evidence={"url": app.url, "canary": version, "percent": percent},
    )
    return StepReport(ran=True, ok=ok, summary=check.detail, checks=(check,))
