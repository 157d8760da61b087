"""What the gates look at, gathered by the adapters before the pure rules run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain.builds import Build


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


@dataclass(frozen=True)
class Evidence:
    docs: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    docs_error: str | None = None  # the env's Firestore could not be read
    probes: Mapping[str, Probe] = field(default_factory=dict)
    ci: Build | None = None  # the app's CI build
    ci_error: str | None = None  # the build could not be found or read
