"""The core's function targets behind real Pub/Sub push subscriptions on the emulators."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from shared.approvals.credentials import emulator_token
from shared.config import DEFAULT_CONTROL_PROJECT
from shared.domain.effects import StartBuild
from shared.domain.roles import ROLES

T = TypeVar("T")
CORE_TARGETS = ("on_release_command", "on_build_event", "on_monitoring_tick")
# Environments with no bake wait, so a release goes live on the first tick.
TEST_CONFIG = """
[control]
project = "demo-release-control"
[environments.dev]
project = "demo-avalo-dev"
bake_minutes = 0
[environments.staging]
project = "demo-avalo-staging"
bake_minutes = 0
[environments.production]
project = "demo-avalo-production"
approval_required = true
bake_minutes = 0
"""


def write_config(directory: Path) -> Path:
    path = directory / "environments.toml"
    path.write_text(TEST_CONFIG)
    return path


def eventually(fetch: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll until `fetch` returns something (no fixed sleeps)."""
    retrying = Retrying(
        retry=retry_if_result(lambda value: value is None),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.1),
        retry_error_callback=lambda state: None,
    )
    value = retrying(fetch)
    assert value is not None, f"nothing after {timeout:.0f}s"
    return value


def step_request(release: str, env: str, step: str, attempt: int = 1) -> StartBuild:
    return StartBuild(
        release=release,
        env=env,
        attempt=attempt,
        step=step,  # type: ignore[arg-type]
        config=f"cloudbuild/{step}.yaml",
        env_project=f"demo-avalo-{env}",
    )


PROJECT = DEFAULT_CONTROL_PROJECT


def token(who: str, *roles: str, at: datetime | None = None) -> str:
    """An Auth emulator ID token for `who` holding `roles` (every role when none are named)."""
    return emulator_token(PROJECT, who, at or datetime.now(UTC), roles=list(roles or ROLES))


def command(**payload: Any) -> bytes:
    """A command signed by its sender (actor, approver, or a release's author) holding every
    role, unless it names its own `id_token` (None: sent unsigned)."""
    if "id_token" not in payload:
        who = payload.get("actor") or payload.get("approver") or payload.get("author")
        payload["id_token"] = token(str(who))
    if payload["id_token"] is None:
        del payload["id_token"]
    return json.dumps(payload).encode()
