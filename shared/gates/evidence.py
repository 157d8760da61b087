"""What the gates look at, gathered by the adapters before the pure rules run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from shared.domain.builds import artifact_uri, step_output


@dataclass(frozen=True)
class Probe:
    """One HTTP answer (or why there was none)."""

    url: str
    method: str
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None

    def as_evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url, "method": self.method, "status": self.status}
        if self.latency_ms is not None:
            out["latencyMs"] = round(self.latency_ms, 1)
        if self.error:
            out["error"] = self.error
        return out


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class CiStep(_Camel):
    id: str = ""
    name: str = ""
    status: str = "STATUS_UNKNOWN"
    allow_failure: bool = False


class CiResults(_Camel):
    build_step_outputs: list[str] = []  # base64, one per step index (`$BUILDER_OUTPUT/output`)
    artifact_manifest: str | None = None


class CiObjects(_Camel):
    location: str = ""
    paths: list[str] = []


class CiArtifacts(_Camel):
    objects: CiObjects | None = None


class CiBuild(_Camel):
    """The fields of the app's CI Build resource the CI gates read."""

    id: str
    status: str
    steps: list[CiStep] = []
    substitutions: dict[str, str] = {}
    tags: list[str] = []
    log_url: str | None = None
    create_time: datetime | None = None
    project_id: str = ""
    results: CiResults = CiResults()
    artifacts: CiArtifacts = CiArtifacts()

    @property
    def commit(self) -> str:
        return self.substitutions.get("COMMIT_SHA", "")

    def created(self) -> datetime:
        return self.create_time or datetime.min.replace(tzinfo=UTC)

    def step(self, step_id: str) -> CiStep | None:
        return next((s for s in self.steps if step_id in (s.id, s.name)), None)

    def step_output(self, step_id: str) -> bytes | None:
        """What the step wrote to `$BUILDER_OUTPUT/output` (None: no such step or no output)."""
        steps = [(s.id, s.name) for s in self.steps]
        return step_output(steps, self.results.build_step_outputs, step_id)

    def artifact_uri(self, path: str) -> str | None:
        """Where the build uploaded the workspace file `path` (`artifacts.objects`), if it did."""
        objects = self.artifacts.objects
        if objects is None or not objects.location:
            return None
        values = {"BUILD_ID": self.id, "PROJECT_ID": self.project_id, **self.substitutions}
        return artifact_uri(objects.location, path, values)


@dataclass(frozen=True)
class Evidence:
    docs: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    docs_error: str | None = None  # the env's Firestore could not be read
    probes: Mapping[str, Probe] = field(default_factory=dict)
    ci: CiBuild | None = None
    ci_error: str | None = None  # the build could not be found or read
