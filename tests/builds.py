"""Cloud Build messages in the real format, made with google-cloud-build's own Build type."""

from __future__ import annotations

import json

from google.cloud.devtools import cloudbuild_v1

from shared.adapters.cloudbuild import substitutions, tags
from shared.domain.effects import StartBuild

CONTROL_PROJECT = "demo-release-control"
FINAL = {"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"}


def _to_json(build: cloudbuild_v1.Build) -> bytes:
    text = cloudbuild_v1.Build.to_json(
        build, use_integers_for_enums=False, always_print_fields_with_no_presence=False
    )
    return json.dumps(json.loads(text)).encode()


def _build(build_id: str, status: str, subs: dict[str, str], tag_list: list[str]) -> bytes:
    build = cloudbuild_v1.Build(
        id=build_id,
        project_id=CONTROL_PROJECT,
        status=cloudbuild_v1.Build.Status[status],
        substitutions=subs,
        tags=tag_list,
        steps=[cloudbuild_v1.BuildStep(name="python:3.11", entrypoint="bash", args=["-c", "true"])],
        log_url=f"https://console.cloud.google.com/cloud-build/builds/{build_id}",
    )
    if status == "FAILURE":
        build.failure_info = cloudbuild_v1.Build.FailureInfo(
            type_=cloudbuild_v1.Build.FailureInfo.FailureType.USER_BUILD_STEP,
            detail='Build step failure: build step 0 "python:3.11" failed: exit status 1',
        )
    return _to_json(build)


def step_build(request: StartBuild, status: str, build_id: str) -> bytes:
    """The message Cloud Build publishes for a build the control plane started."""
    return _build(build_id, status, substitutions(request, CONTROL_PROJECT), tags(request))


def ci_build(branch: str, commit: str, status: str, build_id: str) -> bytes:
    """The message for the app's CI build (tag `ci`), as a push trigger runs it."""
    subs = {"BRANCH_NAME": branch, "COMMIT_SHA": commit, "REPO_NAME": "avalo", "_AUTHOR": "dev"}
    return _build(build_id, status, subs, ["ci", "avalo"])


def attributes(data: bytes) -> dict[str, str]:
    body = json.loads(data)
    return {"buildId": body["id"], "status": body["status"]}
