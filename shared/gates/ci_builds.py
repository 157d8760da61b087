"""Where the app's CI build is found: Cloud Build on Google Cloud, `ciBuilds/` locally.

The release names its build in `artifacts["ciBuild"]` when it knows it; otherwise the newest
`ci`-tagged build of the release's commit is used. Either way the evidence is read from the
build itself (its steps' statuses), never taken from the release's own claims.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.domain.builds import CI_BUILD_ARTIFACT, CI_TAG, Build
from shared.domain.model import Release

CI_BUILDS = "ciBuilds"  # control project, local stack: one document per CI Build resource


def _newest_for_commit(builds: list[Build], commit: str) -> Build | None:
    mine = [b for b in builds if b.commit == commit and CI_TAG in b.tags]
    return mine[0] if mine else None


class FirestoreCiBuilds:
    """Reads Build resources stored as `ciBuilds/{buildId}` (Build JSON, camelCase).

    The local build runner stores each CI build it runs here with `record_ci_build`.
    """

    def __init__(self, db: Any) -> None:
        self.db = db

    def find(self, release: Release) -> Build | None:
        build_id = release.artifacts.get(CI_BUILD_ARTIFACT)
        if build_id:
            snap = self.db.collection(CI_BUILDS).document(build_id).get()
            return Build.model_validate(snap.to_dict()) if snap.exists else None
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.db.collection(CI_BUILDS).where(
            filter=FieldFilter("substitutions.COMMIT_SHA", "==", release.commit)
        )
        builds = [Build.model_validate(s.to_dict()) for s in query.stream()]
        builds.sort(key=Build.created, reverse=True)
        return _newest_for_commit(builds, release.commit)


class LocalDirCiBuilds:
    """Reads the local build runner's Build JSON files (`<local dir>/builds/{id}.json`).

    Only files that carry a status (the runner's final Build resource) count; a CI build of
    the commit whose file has no status yet is treated as not found.
    """

    def __init__(self, builds_dir: Path) -> None:
        self.dir = builds_dir

    def _load(self, path: Path) -> Build | None:
        try:
            return Build.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def find(self, release: Release) -> Build | None:
        build_id = release.artifacts.get(CI_BUILD_ARTIFACT)
        if build_id:
            return self._load(self.dir / f"{build_id}.json")
        found = [b for p in sorted(self.dir.glob("*.json")) if (b := self._load(p)) is not None]
        found.sort(key=Build.created, reverse=True)
        return _newest_for_commit(found, release.commit)


def record_ci_build(db: Any, build: dict[str, Any]) -> None:
    """Store a CI Build resource (as Cloud Build publishes it) for `FirestoreCiBuilds`."""
    parsed = Build.model_validate(build)
    db.collection(CI_BUILDS).document(parsed.id).set(build)


class CloudBuildCiBuilds:  # pragma: no cover - needs Google Cloud; not exercised here
    """Reads the CI build from the Cloud Build API of the control project."""

    def __init__(self, project: str, page_size: int = 50) -> None:
        from google.cloud.devtools import cloudbuild_v1

        self.project, self.page_size = project, page_size
        self.client = cloudbuild_v1.CloudBuildClient()

    def _convert(self, build: Any) -> Build:
        from google.protobuf.json_format import MessageToDict

        raw = MessageToDict(type(build).pb(build))
        return Build.model_validate(raw)

    def find(self, release: Release) -> Build | None:
        build_id = release.artifacts.get(CI_BUILD_ARTIFACT)
        if build_id:
            return self._convert(self.client.get_build(project_id=self.project, id=build_id))
        from google.cloud.devtools import cloudbuild_v1

        request = cloudbuild_v1.ListBuildsRequest(
            project_id=self.project, filter=f'tags="{CI_TAG}"', page_size=self.page_size
        )
        pages = self.client.list_builds(request=request)
        builds = []
        for n, build in enumerate(pages):
            if n >= self.page_size:
                break
            builds.append(self._convert(build))
        return _newest_for_commit(builds, release.commit)
