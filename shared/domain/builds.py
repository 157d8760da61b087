"""Cloud Build status messages (topic `cloud-builds`) and how a build maps to a rollout.

Cloud Build publishes the Build resource as JSON, attributes `buildId` and `status`
(https://cloud.google.com/build/docs/subscribe-build-notifications). Several messages arrive
per build, at least once and in any order.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from shared.domain.commands import describe
from shared.errors import Refused

# Cloud Build's Build.Status, in the order a build goes through them, the final ones last.
BuildStatus = Literal[
    "STATUS_UNKNOWN",
    "PENDING",
    "QUEUED",
    "WORKING",
    "SUCCESS",
    "FAILURE",
    "INTERNAL_ERROR",
    "TIMEOUT",
    "CANCELLED",
    "EXPIRED",
]
_STATUSES: tuple[str, ...] = get_args(BuildStatus)
_FINAL_RANK = _STATUSES.index("SUCCESS")
# status -> how far along a build is. Final statuses share the top rank, so a WORKING that
# arrives after SUCCESS never moves a step backwards.
_STATUS_RANK: dict[str, int] = {s: min(n, _FINAL_RANK) for n, s in enumerate(_STATUSES)}
FINAL = frozenset(s for s, rank in _STATUS_RANK.items() if rank == _FINAL_RANK)

# Substitutions the control plane sets on every build it starts (contract with cloudbuild/*.yaml):
# key -> the rollout coordinate it names.
SUB_RELEASE, SUB_ENV, SUB_STEP, SUB_ATTEMPT = "_RELEASE", "_ENV", "_STEP", "_ATTEMPT"
SUB_PART = "_PART"  # what a deploy build deploys (`shared.domain.model.DeployPart`)
StepKind = Literal["migrate", "deploy", "finish"]
_STEP_KINDS: tuple[StepKind, ...] = ("migrate", "deploy", "finish")
CI_TAG = "ci"
_TAG_UNSAFE = re.compile(r"[^\w.-]")
_SUBSTITUTION = re.compile(r"\$\$|\$\{([A-Z_][A-Z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)")


def substitute(text: str, values: dict[str, str]) -> str:
    """Cloud Build's `$NAME` / `${NAME}` substitution; `$$` is a literal `$` (how a config
    hands the shell its own variables, `$$BUILDER_OUTPUT`); unknown names are left as they are."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return _SUBSTITUTION.sub(replace, text)


def rank(status: str) -> int:
    return _STATUS_RANK.get(status, 0)


def tag(value: str) -> str:
    """A Cloud Build tag (`^[\\w][\\w.-]{0,127}$`) made from any value."""
    return _TAG_UNSAFE.sub("_", value)[:128]


class FailureInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = ""
    detail: str = ""


# The CI build's bill of materials (contract with cloudbuild/ci.yaml's `sbom` step): a release
# made from a CI build links it from its artifacts.
SBOM_STEP, SBOM_REPORT, SBOM_ARTIFACT, CI_BUILD_ARTIFACT = (
    "sbom",
    "reports/sbom.cdx.json",
    "sbom",
    "ciBuild",
)


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# The CI build's commit time (contract with cloudbuild/ci.yaml's `commit-time` step): the
# step's output is `{"commit": SHA, "committedAt": RFC 3339, "source": "git" | "trigger"}`.
COMMIT_TIME_STEP = "commit-time"


class CommitTime(_Camel):
    commit: str
    committed_at: AwareDatetime
    source: Literal["git", "trigger"]


class Results(_Camel):
    build_step_outputs: list[str] = []  # base64, one per step index (`$BUILDER_OUTPUT/output`)
    artifact_manifest: str | None = None


class StepResult(_Camel):
    id: str = ""
    name: str = ""
    status: str = "STATUS_UNKNOWN"
    allow_failure: bool = False


class ObjectsSpec(_Camel):
    location: str = ""
    paths: list[str] = []


class ArtifactsSpec(_Camel):
    objects: ObjectsSpec | None = None


class Build(_Camel):
    """The fields of the Build resource the control plane reads: from `cloud-builds` messages
    and, for the gates, from the Cloud Build API of the app's CI.

    `status` is any string here: the API may report a status newer than `BuildStatus`, and a
    gate must then say so rather than fail to read the build. `parse_build` is where a message
    with a status the rollout does not know is refused."""

    id: str
    status: str
    project_id: str = ""
    tags: list[str] = []
    substitutions: dict[str, str] = {}
    create_time: datetime | None = None
    start_time: datetime | None = None
    finish_time: datetime | None = None
    log_url: str | None = None
    status_detail: str | None = None
    failure_info: FailureInfo | None = None
    steps: list[StepResult] = []
    artifacts: ArtifactsSpec = ArtifactsSpec()
    results: Results = Results()

    @property
    def commit(self) -> str:
        return self.substitutions.get("COMMIT_SHA", "")

    def created(self) -> datetime:
        """When the build was created; the earliest possible time when it does not say."""
        return self.create_time or datetime.min.replace(tzinfo=UTC)

    def _step_index(self, step_id: str) -> int | None:
        """The first step whose id or name is `step_id` (steps without an id go by name)."""
        return next((n for n, s in enumerate(self.steps) if step_id in (s.id, s.name)), None)

    def step(self, step_id: str) -> StepResult | None:
        index = self._step_index(step_id)
        return None if index is None else self.steps[index]

    def step_succeeded(self, step_id: str) -> bool:
        step = self.step(step_id)
        return step is not None and step.status == "SUCCESS"

    def step_output(self, step_id: str) -> bytes | None:
        """What a step wrote to `$BUILDER_OUTPUT/output`: Cloud Build keeps it, base64, at the
        step's index in `results.buildStepOutputs`. None: no such step or no output;
        ValueError: not base64 (what Cloud Build keeps never is)."""
        index = self._step_index(step_id)
        outputs = self.results.build_step_outputs
        if index is None or index >= len(outputs) or not outputs[index]:
            return None
        return base64.b64decode(outputs[index], validate=True)

    def commit_time(self, commit: str) -> CommitTime | None:
        """When `commit` was made, as the build's `commit-time` step recorded it. None when it
        did not (no git metadata and no trigger value), names another commit, does not parse,
        or is later than the build itself (a clock or a date that cannot be right)."""
        try:
            raw = self.step_output(COMMIT_TIME_STEP)
            found = CommitTime.model_validate_json(raw) if raw else None
        except ValueError:  # not base64, or not the step's JSON (ValidationError)
            return None
        if found is None:
            return None
        latest = self.finish_time or self.create_time
        if found.commit != commit or (latest is not None and found.committed_at > latest):
            return None
        return found

    def uploaded(self, path: str) -> str | None:
        """Where the build uploaded the workspace file `path` (`artifacts.objects`): the
        location + the file's name; None when it uploads nothing. The location may arrive
        unsubstituted; user substitutions may name built-in ones."""
        objects = self.artifacts.objects
        if objects is None or not objects.location:
            return None
        values = {"BUILD_ID": self.id, "PROJECT_ID": self.project_id, **self.substitutions}
        resolved = {k: substitute(v, values) for k, v in values.items()}
        return substitute(objects.location, resolved).rstrip("/") + "/" + path.rsplit("/", 1)[-1]

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"

    def failure_reason(self) -> str:
        info = self.failure_info
        detail = (info.detail if info and info.detail else None) or self.status_detail
        return f"build {self.id} ended {self.status}" + (f": {detail}" if detail else "")


@dataclass(frozen=True)
class StepBuild:
    """A build the control plane started for one step of one rollout attempt."""

    release: str
    env: str
    step: StepKind
    attempt: int


@dataclass(frozen=True)
class CiOrigin:
    """The app's own CI build (tag `ci`), run by a push trigger: its branch and commit."""

    branch: str
    commit: str


def origin(build: Build) -> StepBuild | CiOrigin | None:
    """Where a build came from; None for builds that are none of our business."""
    subs = build.substitutions
    if SUB_RELEASE in subs or SUB_STEP in subs:
        step = subs.get(SUB_STEP)
        kind = next((k for k in _STEP_KINDS if k == step), None)
        if kind is None or not subs.get(SUB_RELEASE) or not subs.get(SUB_ENV):
            raise Refused(
                f"build {build.id}: substitutions {SUB_RELEASE}, {SUB_ENV} and {SUB_STEP} "
                f"({'|'.join(_STEP_KINDS)}) must all be set, got {sorted(subs)}"
            )
        try:
            attempt = int(subs.get(SUB_ATTEMPT, "1"))
        except ValueError:
            raise Refused(f"build {build.id}: {SUB_ATTEMPT} is not a number") from None
        return StepBuild(subs[SUB_RELEASE], subs[SUB_ENV], kind, attempt)
    if CI_TAG in build.tags:
        branch = subs.get("BRANCH_NAME", "")
        if not branch or not build.commit:
            raise Refused(f"ci build {build.id}: BRANCH_NAME and COMMIT_SHA substitutions missing")
        return CiOrigin(branch, build.commit)
    return None


def parse_build(data: bytes, attributes: dict[str, str]) -> Build:
    """Decode a `cloud-builds` message; the attributes fill in what an old body lacks."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"malformed Build JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise Refused("Build message data must be a JSON object")
    raw.setdefault("id", attributes.get("buildId"))
    raw.setdefault("status", attributes.get("status"))
    status = raw["status"]
    if status not in _STATUSES:  # a status no rollout step can take: never valid
        raise Refused(f"Build message: status {status!r} is not one of {', '.join(_STATUSES)}")
    try:
        return Build.model_validate(raw)
    except ValidationError as exc:
        raise Refused(f"Build message: {describe(exc)}") from None
