"""The `BuildPort` on Google Cloud Build (google-cloud-build, `cloudbuild_v1`).

A build is started from a `cloudbuild/*.yaml` config with substitutions and tags naming the
release, environment, step and attempt (the contract `shared.domain.builds.origin` reads back).
Starting is idempotent under concurrency: a create-only marker per step key
(`shared.adapters.build_starts`) decides which runner starts it; a runner that takes over a
marker left by a dead one first looks for a build already tagged with the key.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

from shared.adapters.build_starts import FirestoreBuildStarts
from shared.clock import Clock, utcnow
from shared.config import REPO_ROOT
from shared.domain.builds import SUB_ATTEMPT, SUB_ENV, SUB_PART, SUB_RELEASE, SUB_STEP, tag
from shared.domain.effects import StartBuild

log = logging.getLogger(__name__)
CONTROL_TAG = "releasectl"


def key_tag(request: StartBuild) -> str:
    return tag(f"key-{request.key}".replace("/", "_"))


def substitutions(request: StartBuild, control_project: str) -> dict[str, str]:
    return {
        SUB_RELEASE: request.release,
        SUB_ENV: request.env,
        SUB_STEP: request.step,
        SUB_ATTEMPT: str(request.attempt),
        # what the deploy build deploys (the migrate build has no parts)
        **({SUB_PART: request.part} if request.step != "migrate" else {}),
        "_ENV_PROJECT": request.env_project,
        "_COMMIT": request.commit,
        "_CONTROL_PROJECT": control_project,
    }


def tags(request: StartBuild) -> list[str]:
    return [
        CONTROL_TAG,
        key_tag(request),
        tag(f"release-{request.release}"),
        tag(f"env-{request.env}"),
        tag(f"step-{request.step}"),
    ]


def build_body(request: StartBuild, control_project: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The Build resource (as its JSON dict) for one step of one rollout attempt."""
    config = yaml.safe_load((root / request.config).read_text(encoding="utf-8"))
    subs = {**config.get("substitutions", {}), **substitutions(request, control_project)}
    return {**config, "substitutions": subs, "tags": [*config.get("tags", []), *tags(request)]}


class CloudBuildPort:
    def __init__(
        self,
        project: str,
        starts: FirestoreBuildStarts,
        root: Path = REPO_ROOT,
        clock: Clock = utcnow,
    ) -> None:
        self.project, self.starts, self.root, self.clock = project, starts, root, clock
        self._client: Any = None

    def _builds(self) -> Any:
        if self._client is None:
            from google.cloud.devtools import cloudbuild_v1

            self._client = cloudbuild_v1.CloudBuildClient()
        return self._client

    def start(self, request: StartBuild) -> str:
        claim = self.starts.claim(request.key, self.clock())
        if claim.build_id is not None:
            return claim.build_id
        found = self._tagged(request) if claim.takeover else None
        build_id = found or self._create(request)
        self.starts.record(request.key, build_id)
        return build_id

    def _tagged(self, request: StartBuild) -> str | None:
        """A build a dead runner started for this step before it could record it."""
        client = self._builds()
        existing = client.list_builds(project_id=self.project, filter=f'tags="{key_tag(request)}"')
        return next((str(build.id) for build in existing), None)

    def _create(self, request: StartBuild) -> str:
        from google.cloud.devtools import cloudbuild_v1

        client = self._builds()
        body = build_body(request, self.project, self.root)
        build = cloudbuild_v1.Build.from_json(json.dumps(body), ignore_unknown_fields=False)
        operation = client.create_build(project_id=self.project, build=build)
        build_id = str(operation.metadata.build.id)
        log.info(
            "started build %s",
            build_id,
            extra={"release": request.release, "env": request.env, "build_id": build_id},
        )
        return build_id


class NoBuildRunner:
    """The local stack without a build runner: says so, starts nothing.

    The step stays at STARTING until someone publishes the build's status messages to
    `cloud-builds` (tests do exactly that, in Cloud Build's own format).
    """

    def start(self, request: StartBuild) -> str:
        log.warning(
            "no build runner configured: %s build for %s was not started",
            request.step,
            request.key,
            extra={"release": request.release, "env": request.env},
        )
        return f"unstarted-{key_tag(request)}"
