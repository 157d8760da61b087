"""Driving the local stack the way a team does: pushes that run CI, then watching rollouts."""

from __future__ import annotations

import json
import subprocess  # nosec B404 -- asks git for HEAD, argv list only
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from shared.config import REPO_ROOT
from shared.domain.builds import FINAL
from shared.local.build_runner import LocalBuildRunner, builds_dir, status_file
from shared.local.emulators import program
from shared.local.state import StackState
from shared.topics import RELEASE_COMMANDS

CI_CONFIG = REPO_ROOT / "cloudbuild" / "ci.yaml"
T = TypeVar("T")


def wait_for(
    what: str,
    check: Callable[[], T | None],
    failure: type[Exception],
    timeout: float,
    interval: float = 0.3,
) -> T:
    """`check()`'s first answer that is not empty, asked every `interval` seconds; after
    `timeout` seconds without one, `failure` naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise failure(f"{what}: not after {timeout:.0f}s")


def send_command(sender: str | None = None, **payload: object) -> None:
    """Publish a command to the stack's `release-commands`, signed the way `releasectl` signs
    it (emulator tokens carrying the roles the local users file gives each demo user)."""
    from shared.cli import context
    from shared.cli.sending import sign

    signed = sign(dict(payload), sender)
    context.publisher().publish(RELEASE_COMMANDS, json.dumps(signed).encode())


def head_commit() -> str:
    out = subprocess.run(  # nosec B603 -- argv list built from trusted values, no shell
        [program("git"), "rev-parse", "HEAD"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else uuid.uuid4().hex[:40]


def commit_time(commit: str, root: Path = REPO_ROOT) -> str:
    """The commit's committer date (RFC 3339 with offset) from git; "" if git does not know it."""
    out = subprocess.run(  # nosec B603 -- argv list built from trusted values, no shell
        [program("git"), "show", "-s", "--format=%cI", commit, "--"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() if out.returncode == 0 else ""


def ci_body(
    config: Path, branch: str, commit: str, skip: list[str], root: Path = REPO_ROOT
) -> dict[str, Any]:
    """The build a push trigger would start: the CI config with Cloud Build's trigger
    substitutions (BRANCH_NAME, COMMIT_SHA…) and its `ci` tag. Like a webhook trigger binding
    the push event's commit timestamp, it sets `_COMMIT_TIME` from the checkout's git (the
    local runner's workspace is an export without .git)."""
    body: dict[str, Any] = yaml.safe_load(config.read_text(encoding="utf-8"))
    subs = {
        **body.get("substitutions", {}),
        "_COMMIT_TIME": commit_time(commit, root),
        "BRANCH_NAME": branch,
        "COMMIT_SHA": commit,
        "SHORT_SHA": commit[:7],
        "REPO_NAME": REPO_ROOT.name,
        "_LOCAL_SKIP": ",".join(["install", *skip]),
    }
    tags = list(dict.fromkeys([*body.get("tags", []), "ci"]))
    return {**body, "substitutions": subs, "tags": tags}


def push(
    stack: StackState, project: str, branch: str, commit: str, config: Path, skip: list[str]
) -> str:
    runner = LocalBuildRunner(stack.local_dir, project, stack.environment())
    return runner.launch(str(uuid.uuid4()), ci_body(config, branch, commit, skip))


def wait_build(stack: StackState, build_id: str, timeout: float) -> str:
    """The build's final status (or the last one seen when `timeout` runs out)."""
    path = status_file(builds_dir(stack.local_dir), build_id)
    deadline, status = time.monotonic() + timeout, "QUEUED"
    while time.monotonic() < deadline:
        if path.exists():
            status = path.read_text(encoding="utf-8").strip()
            if status in FINAL or status == "INTERNAL_ERROR":
                return status
        time.sleep(0.2)
    return status
