"""The local `DeployTarget`: deploying means switching the environment's sample app to a
version; restoring means switching it back and seeing, over HTTP, that it serves again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from shared.config import EnvConfig
from shared.domain.messages import CheckResult, StepReport
from shared.domain.model import Deployed
from shared.errors import ControlPlaneError
from shared.local.state import StackState

MODE = "sample-app.mode"
VERSION = "sample-app.version"
SERVE_TIMEOUT_S = 15.0
# A release whose deploy fails on purpose (the other bad modes, `errors` and `slow`, deploy fine
# and then misbehave: see examples/sample-app/app.py).
UNDEPLOYABLE = "undeployable"


def write_served(state_file: Path, version: str, mode: str) -> None:
    """Atomically point the app at a version (a reader sees the old or the new, never half)."""
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


class LocalSampleApp:
    def __init__(self, stack: StackState, artifacts_of: Callable[[str], dict[str, str]]) -> None:
        self.stack = stack
        self.artifacts_of = artifacts_of  # a release's declared artifacts (e.g. a bad mode)

    def _app(self, env: EnvConfig) -> tuple[str, Path]:
        app = self.stack.apps.get(env.name)
        if app is None:
            raise ControlPlaneError(f"the local stack runs no sample app for {env.name}")
        return app.url, app.state_file

    def deploy(self, release: str, env: EnvConfig) -> dict[str, str]:
        url, state_file = self._app(env)
        mode = self.artifacts_of(release).get(MODE, "ok")
        if mode == UNDEPLOYABLE:
            raise ControlPlaneError(f"release {release} cannot be deployed (mode {mode})")
        write_served(state_file, release, mode)
        if not wait_serving(url, release):
            raise ControlPlaneError(f"sample app for {env.name} does not serve {release}")
        return {VERSION: release, MODE: mode}

    def restore(self, target: Deployed, env: EnvConfig) -> StepReport:
        url, state_file = self._app(env)
        version = target.artifacts.get(VERSION, target.release)
        write_served(state_file, version, target.artifacts.get(MODE, "ok"))
        ok = wait_serving(url, version)
        check = CheckResult(
            name="sample-app",
            ok=ok,
            detail=f"{url} serves {version}" if ok else f"{url} does not serve {version}",
            evidence={"url": url, "version": version, "served": serving(url)},
        )
        summary = f"restored {version} in {env.name}" if ok else check.detail
        return StepReport(ran=True, ok=ok, summary=summary, checks=(check,))

    def split(
        self, canary: dict[str, str], stable: Deployed | None, percent: int, env: EnvConfig
    ) -> StepReport:
        # The local sample app serves one version at a time (no traffic-splitting router yet):
        # the canary's steps and analysis run, but the whole env serves the new release.
        return StepReport.not_run(
            f"the local sample app for {env.name} cannot split traffic; it serves the new "
            f"release to all (asked for {percent} %)",
            ok=True,
        )
