"""What the gates read from the outside world, as small Protocols (adapters in this package)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from shared.config import EnvConfig
from shared.domain.builds import Build
from shared.domain.model import Release
from shared.gates.evidence import Probe
from shared.gates.settings import EndpointCheck


class ComplianceSource(Protocol):
    def read(self, env: EnvConfig, items: tuple[str, ...]) -> dict[str, Mapping[str, Any] | None]:
        """`compliance/{item}` of the env's project, None for each missing document."""
        ...


class Prober(Protocol):
    def probe(self, base_url: str, endpoint: EndpointCheck, timeout: float) -> Probe: ...


class CiBuildSource(Protocol):
    def find(self, release: Release) -> Build | None:
        """The app's CI build the release came from, or None if there is none."""
        ...
