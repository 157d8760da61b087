"""`config/checks.toml`: gate, smoke and monitoring settings per environment.

Validated with pydantic; any problem is one `ConfigError` naming the file and the key, the same
way `shared.config.load_config` reports `environments.toml`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config import DEMO_PREFIX, REPO_ROOT, PlaneConfig, load_toml
from shared.errors import ConfigError
from shared.gates.settings import GateSettings
from shared.monitoring.settings import MonitoringSettings
from shared.smoke.settings import SmokeSettings

DEFAULT_CHECKS_FILE = REPO_ROOT / "config" / "checks.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvChecks(_Strict):
    # where the env's app answers (hosting / API), for HTTP gates and smoke tests
    base_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    gates: GateSettings = GateSettings()
    smoke: SmokeSettings = SmokeSettings()
    monitoring: MonitoringSettings = MonitoringSettings()


class ChecksConfig(_Strict):
    environments: dict[str, EnvChecks] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _http_needs_url(self) -> Self:
        for name, env in self.environments.items():
            if env.base_url is None and (env.smoke.checks or env.gates.endpoints):
                raise ValueError(
                    f"environments.{name}.base_url: required when smoke checks or gate "
                    "endpoints are configured"
                )
        return self

    def env(self, name: str) -> EnvChecks:
        """The env's settings; an env the file does not mention gets the defaults."""
        return self.environments.get(name) or EnvChecks()

    def check_envs(self, known: set[str]) -> None:
        unknown = sorted(set(self.environments) - known)
        if unknown:
            raise ConfigError(
                f"environments.{unknown[0]}: not an environment of environments.toml "
                f"(known: {', '.join(sorted(known))})"
            )


def load_checks(
    path: Path = DEFAULT_CHECKS_FILE, known_envs: set[str] | None = None
) -> ChecksConfig:
    """Read and validate `checks.toml`; raise one `ConfigError` that names file and key."""
    check = None if known_envs is None else (lambda c: c.check_envs(known_envs))
    return load_toml(path, ChecksConfig, "config file", check)


class ChecksSettings(BaseSettings):
    """Where `checks.toml` is: `RELEASECTL_CHECKS_FILE`, default `config/checks.toml`."""

    model_config = SettingsConfigDict(env_prefix="RELEASECTL_", extra="ignore")

    checks_file: Path = DEFAULT_CHECKS_FILE


def load_for(plane: PlaneConfig, settings: ChecksSettings | None = None) -> ChecksConfig:
    """`checks.toml` for these environments (an env it names must exist in `plane`)."""
    path = (settings or ChecksSettings()).checks_file
    return load_checks(path, set(plane.environments))


def local_address(url: str) -> str | None:
    """Why `url`'s host is only reachable from the machine or network it runs on (loopback,
    private, link-local, unspecified), or None for a host a cloud function could reach.
    Names are not resolved (the deploy plan is built offline): `localhost` is the one name
    known to be local."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, hit in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
    ):
        if hit:
            return kind
    return None


def local_endpoints(checks: ChecksConfig, plane: PlaneConfig) -> list[tuple[str, str, str]]:
    """`(key, url, why)` for each `base_url` of a non-demo environment that points at this
    machine or a private network: on Google Cloud its gates and smoke tests would probe the
    function's own sandbox. `demo-` environments run on the emulators, where loopback is right."""
    found = []
    for name, env in plane.environments.items():
        url = checks.env(name).base_url
        if env.project.startswith(DEMO_PREFIX) or url is None:
            continue
        why = local_address(url)
        if why is not None:
            found.append((f"environments.{name}.base_url", url, why))
    return found
