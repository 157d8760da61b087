"""A release created from a CI build carries its commit's time.

The local build runner runs `cloudbuild/ci.yaml`'s own `commit-time` step on a scratch git
repository's commit (committer date fixed) and publishes the Build resource on the Pub/Sub
emulator's `cloud-builds` topic; the message is decoded as `on_build_event` decodes it and
handed to the core's bus on Firestore, which creates the release with `committedAt`; DORA then
times its lead from the commit. The step's script is also run where the workspace is a git
checkout (the commit time from git, as on Cloud Build triggers that clone the repository) and
where it is neither (no output: the lead time falls back to the release's creation).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.adapters import firestore_views as views
from shared.adapters.firestore_store import FirestoreUnitOfWork
from shared.config import PlaneConfig
from shared.domain.builds import COMMIT_TIME_STEP, parse_build, substitute
from shared.domain.messages import BuildStatusChanged
from shared.local import build_runner
from shared.local.driving import ci_body
from shared.service.messagebus import MessageBus
from shared.topics import CLOUD_BUILDS
from tests.integration.ci_runs import run_ci
from tests.unit.fakes import FakeClock, fake_ports

REPO = Path(__file__).resolve().parents[2]
PROJECT = "demo-commit-time-ci"  # its own: see tests/integration/ci_runs.py
COMMITTED = "2026-11-20T08:30:00+01:00"
WHEN = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_COMMITTER_DATE": COMMITTED, "GIT_AUTHOR_DATE": COMMITTED}
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.strip()


def commit_time_step() -> dict[str, Any]:
    """The shipped ci.yaml's `commit-time` step, unchanged."""
    config: dict[str, Any] = yaml.safe_load((REPO / "cloudbuild" / "ci.yaml").read_text())
    found = [s for s in config["steps"] if s["id"] == COMMIT_TIME_STEP]
    assert len(found) == 1
    return {**config, "steps": found}


def scratch(root: Path) -> str:
    (root / "cloudbuild").mkdir(parents=True)
    (root / "cloudbuild" / "ci.yaml").write_text(yaml.safe_dump(commit_time_step()))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a change")
    return git(root, "rev-parse", "HEAD")


def test_a_release_created_from_a_ci_build_carries_its_commit_time(
    emulator_env: dict[str, str],
    firestore_db: Any,
    plane: PlaneConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, local = tmp_path / "scratch", tmp_path / "local"
    commit = scratch(root)
    monkeypatch.setattr(build_runner, "REPO_ROOT", root)  # the scratch repository's commits
    body = ci_body(root / "cloudbuild" / "ci.yaml", "main", commit, [], root=root)
    assert body["substitutions"]["_COMMIT_TIME"] == COMMITTED  # the local trigger, from git
    final = run_ci(PROJECT, local, body)

    build = parse_build(final.data, dict(final.attributes))
    clock = FakeClock()
    bus = MessageBus(
        uow=FirestoreUnitOfWork(firestore_db), plane=plane, clock=clock, ports=fake_ports()
    )
    bus.handle(BuildStatusChanged(build=build), event_id=build.id, topic=CLOUD_BUILDS)

    version = f"0.0.0-main.{commit[:7]}"
    release = firestore_db.document(f"releases/{version}").get().to_dict()
    assert release["committedAt"] == WHEN
    found = views.changes(firestore_db, {version})[version]
    assert (found.changed_at, found.from_commit) == (WHEN, True)
    # a redelivery of the same message changes nothing
    bus.handle(BuildStatusChanged(build=build), event_id=build.id, topic=CLOUD_BUILDS)
    assert firestore_db.document(f"releases/{version}").get().to_dict() == release


def run_step(cwd: Path, commit: str, commit_time: str, tmp_path: Path) -> bytes | None:
    """The step's script as Cloud Build runs it: substitutions applied, `$$` a literal `$`."""
    step = commit_time_step()["steps"][0]
    values = {"COMMIT_SHA": commit, "_COMMIT_TIME": commit_time}
    out = tmp_path / f"out-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    env = {**os.environ, "BUILDER_OUTPUT": str(out)}
    for item in step["env"]:
        name, _, value = substitute(item, values).partition("=")
        env[name] = value
    args = [substitute(a, values) for a in step["args"]]
    done = subprocess.run([step["entrypoint"], *args], cwd=cwd, env=env, check=False)
    assert done.returncode == 0  # no commit time never fails the build
    path = out / "output"
    return path.read_bytes() if path.exists() else None


def test_the_step_reads_git_where_the_workspace_is_a_checkout(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    commit = scratch(root)
    from_git = run_step(root, commit, "", tmp_path)
    assert from_git is not None
    assert json.loads(from_git) == {"commit": commit, "committedAt": COMMITTED, "source": "git"}
    export = tmp_path / "export"  # a GitHub App trigger's workspace: files, no .git
    export.mkdir()
    assert run_step(export, commit, "", tmp_path) is None
    told = run_step(export, commit, "2026-11-20T07:30:00Z", tmp_path)
    assert told is not None and json.loads(told)["source"] == "trigger"
