"""Declared secrets and version metadata: pure data, validated with pydantic."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from shared.config import PRODUCTION, REPO_ROOT, load_toml
from shared.errors import ConfigError

DEFAULT_SECRETS_FILE = REPO_ROOT / "config" / "secrets.toml"
# Upper-case so each name doubles as the `.env` variable; also a valid Secret Manager id.
SecretName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,63}$")]
StripeRole = Literal["secret_key", "publishable_key", "restricted_key"]
MAX_SECRET_BYTES = 64 * 1024  # Secret Manager's payload limit


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretSpec(_Strict):
    """One declared secret."""

    name: SecretName
    description: str = Field(min_length=1, max_length=300)
    owner: str = Field(min_length=1, max_length=100)
    used_by: Literal["app", "control-plane"] = "app"
    envs: tuple[str, ...] | None = None  # None: every environment
    rotation_days: int | None = Field(None, ge=1, le=3650)
    required: bool = True
    stripe: StripeRole | None = None  # a Stripe key whose mode (test/live) is checked

    def applies_to(self, env: str) -> bool:
        return self.envs is None or env in self.envs


class Defaults(_Strict):
    rotation_days: int = Field(90, ge=1, le=3650)
    warn_days: int = Field(14, ge=0, le=365)
    grace_hours: int = Field(24, ge=0, le=24 * 90)
    stripe_live_envs: tuple[str, ...] = (PRODUCTION,)


class SecretsConfig(_Strict):
    """The whole `secrets.toml`."""

    defaults: Defaults = Defaults()
    secrets: dict[SecretName, SecretSpec] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _name_secrets(cls, data: object) -> object:
        # The TOML table key is the secret's name; copy it in so each spec knows it.
        if isinstance(data, dict) and isinstance(data.get("secrets"), dict):
            named = {
                k: {"name": k, **v} if isinstance(v, dict) else v
                for k, v in data["secrets"].items()
            }
            data = {**data, "secrets": named}
        return data

    def for_env(self, env: str) -> list[SecretSpec]:
        return [s for s in self.secrets.values() if s.applies_to(env)]

    def spec(self, name: str) -> SecretSpec:
        try:
            return self.secrets[name]
        except KeyError:
            raise ConfigError(f"secret {name!r} is not declared in secrets.toml") from None

    def rotation_days(self, spec: SecretSpec) -> int:
        return spec.rotation_days or self.defaults.rotation_days

    def live_mode(self, env: str) -> bool:
        """Whether Stripe keys in `env` must be live-mode keys (else test-mode)."""
        return env in self.defaults.stripe_live_envs

    def check_envs(self, known: set[str]) -> Self:
        for spec in self.secrets.values():
            unknown = set(spec.envs or ()) - known
            if unknown:
                raise ConfigError(
                    f"secrets.{spec.name}.envs: unknown environment(s) "
                    f"{', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
                )
        return self


def load_secrets_config(
    path: Path = DEFAULT_SECRETS_FILE, known_envs: set[str] | None = None
) -> SecretsConfig:
    """Read and validate `secrets.toml`; one `ConfigError` naming file and key."""
    check = None if known_envs is None else (lambda c: c.check_envs(known_envs))
    return load_toml(path, SecretsConfig, "secrets file", check)


# -- version metadata (the same shape in Secret Manager and in the local store) ----------------


class VersionState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    DESTROYED = "destroyed"


class SecretVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[1-9][0-9]*$")
    state: VersionState
    created_at: datetime


class SecretInfo(BaseModel):
    """A secret's metadata: never its value."""

    model_config = ConfigDict(frozen=True)

    name: str
    versions: tuple[SecretVersion, ...] = ()

    def enabled(self) -> list[SecretVersion]:
        """Enabled versions, newest first."""
        live = [v for v in self.versions if v.state is VersionState.ENABLED]
        return sorted(live, key=lambda v: int(v.id), reverse=True)

    def current(self) -> SecretVersion | None:
        """The version in use: the newest enabled one."""
        enabled = self.enabled()
        return enabled[0] if enabled else None
