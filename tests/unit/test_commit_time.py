"""The commit's time, where DORA's lead time starts: read from the CI build's `commit-time` step
output when a green build creates the release; missing, foreign, malformed or impossible
values leave the release without one (its lead time then starts at its creation)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.config import PlaneConfig
from shared.domain.builds import Build, CiOrigin
from shared.domain.workflow import ci_release
from tests.unit.fakes import Driver, make_world

SHA = "ab" * 20
COMMITTED = "2026-11-28T09:15:00+01:00"
CREATED = "2026-11-28T10:00:00Z"


def output(**fields: Any) -> str:
    return base64.b64encode(json.dumps(fields).encode()).decode()


def ci_build(commit_output: str | None, branch: str = "main") -> dict[str, Any]:
    steps = [{"id": "commit-time", "status": "SUCCESS"}, {"id": "lint", "status": "SUCCESS"}]
    return {
        "id": "b-1",
        "status": "SUCCESS",
        "projectId": "ctl",
        "tags": ["ci"],
        "createTime": CREATED,
        "finishTime": "2026-11-28T10:06:00Z",
        "substitutions": {"BRANCH_NAME": branch, "COMMIT_SHA": SHA},
        "steps": steps,
        "results": {"buildStepOutputs": [commit_output or "", ""]},
    }


def planned(commit_output: str | None) -> datetime | None:
    plan = ci_release(Build.model_validate(ci_build(commit_output)), CiOrigin("main", SHA))
    assert plan is not None
    return plan[0].committed_at


def test_the_commit_time_the_build_recorded_goes_on_the_release() -> None:
    found = planned(output(commit=SHA, committedAt=COMMITTED, source="git"))
    assert found == datetime(2026, 11, 28, 8, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "recorded",
    [
        None,  # no git metadata, no trigger value: the step wrote nothing
        output(commit="cd" * 20, committedAt=COMMITTED, source="git"),  # another commit
        output(commit=SHA, committedAt="2026-11-28T09:15:00", source="git"),  # no offset
        output(commit=SHA, committedAt="yesterday", source="trigger"),
        output(commit=SHA, committedAt="2026-11-29T09:00:00Z", source="git"),  # after the build
        output(commit=SHA, committedAt=COMMITTED, source="guess"),
        base64.b64encode(b"not json").decode(),
        "not base64!",
    ],
)
def test_no_usable_commit_time_leaves_the_release_without_one(recorded: str | None) -> None:
    assert planned(recorded) is None


def test_a_release_made_by_a_build_carries_its_commit_time_in_firestore_terms(
    plane: PlaneConfig,
) -> None:
    world = make_world(plane)
    driver = Driver(world)
    build = ci_build(output(commit=SHA, committedAt=COMMITTED, source="trigger"))
    driver.build(json.dumps(build).encode())
    release = world.uow.store.releases[f"0.0.0-main.{SHA[:7]}"]
    assert release.committed_at == datetime(2026, 11, 28, 8, 15, tzinfo=UTC)
    assert release.to_doc()["committedAt"] == release.committed_at  # what DORA reads


def test_release_create_takes_a_commit_time_with_an_offset_only(plane: PlaneConfig) -> None:
    world = make_world(plane)
    driver = Driver(world)
    base = {"type": "release.create", "commit": SHA, "branch": "main", "author": "dev"}
    driver.command(**base, version="1.0.0", committed_at=COMMITTED)
    assert world.uow.store.releases["1.0.0"].committed_at is not None
    refused = driver.command(**base, version="1.1.0", committed_at="2026-11-28T09:15:00")
    assert refused.outcome == "refused" and "committed_at" in refused.note, refused
    assert "1.1.0" not in world.uow.store.releases
