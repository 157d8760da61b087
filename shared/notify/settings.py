"""`config/notifications.toml`: channels, routes (per env and per kind), retry and links."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from shared.config import REPO_ROOT, load_toml
from shared.errors import ConfigError
from shared.notify.events import NoticeKind
from shared.secrets.model import SecretName

DEFAULT_NOTIFY_FILE = REPO_ROOT / "config" / "notifications.toml"
ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
ANY = "*"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackChannel(_Strict):
    type: Literal["slack"]
    webhook_secret: SecretName  # the incoming-webhook URL, read from the env's secrets


class DiscordChannel(_Strict):
    type: Literal["discord"]
    webhook_secret: SecretName
    username: str = "releasectl"


class EmailChannel(_Strict):
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    recipients: tuple[Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")], ...] = Field(
        min_length=1
    )
    username_secret: SecretName | None = None
    password_secret: SecretName | None = None


Channel = Annotated[SlackChannel | DiscordChannel | EmailChannel, Field(discriminator="type")]


class Route(_Strict):
    """Send notices of these kinds in these envs to these channels (`*` = any)."""

    envs: tuple[str, ...] = (ANY,)
    kinds: tuple[str, ...] = (ANY,)
    channels: tuple[ChannelName, ...] = Field(min_length=1)

    def matches(self, env: str, kind: NoticeKind) -> bool:
        return (ANY in self.envs or env in self.envs) and (ANY in self.kinds or kind in self.kinds)


class Retry(_Strict):
    """Backoff on 5xx, 408/429 and timeouts: attempts in all, waits growing from `first`."""

    attempts: int = Field(4, ge=1, le=10)
    first_wait_seconds: float = Field(1.0, ge=0, le=60)
    max_wait_seconds: float = Field(20.0, ge=0, le=300)
    timeout_seconds: float = Field(10.0, gt=0, le=120)


class Links(_Strict):
    """What a message points at; `{release}`, `{env}`, `{attempt}`, `{control_project}`."""

    rollout_url: str = (
        "https://console.firebase.google.com/project/{control_project}/firestore/databases/"
        "-default-/data/~2Freleases~2F{release}~2Frollouts~2F{env}"
    )
    status_command: str = "releasectl status --env {env}"
    history_command: str = "releasectl history {release}"

    @model_validator(mode="after")
    def _placeholders(self) -> Self:
        # A bad placeholder would fail every message at send time: refuse it at load time.
        sample = {"release": "1.0.0", "env": "e", "attempt": 1, "control_project": "p"}
        for name in ("rollout_url", "status_command", "history_command"):
            try:
                getattr(self, name).format(**sample)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    f"{name}: bad placeholder {exc} (use {{release}}, {{env}}, {{attempt}}, "
                    "{control_project})"
                ) from None
        return self


class NotifyConfig(_Strict):
    channels: dict[ChannelName, Channel] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    retry: Retry = Retry()
    links: Links = Links()
    # A claim older than this with no outcome was left by a crash: a redelivery may send again.
    stale_claim_seconds: int = Field(600, ge=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        known_kinds = {k.value for k in NoticeKind} | {ANY}
        for n, route in enumerate(self.routes):
            missing = [c for c in route.channels if c not in self.channels]
            if missing:
                raise ValueError(f"routes[{n}].channels: undeclared channel(s) {missing}")
            bad = [k for k in route.kinds if k not in known_kinds]
            if bad:
                known = ", ".join(sorted(known_kinds))
                raise ValueError(f"routes[{n}].kinds: unknown kind(s) {bad} (known: {known})")
        return self

    def channels_for(self, env: str, kind: NoticeKind) -> list[str]:
        """Every channel any matching route names, once each, in declaration order."""
        names: list[str] = []
        for route in self.routes:
            if route.matches(env, kind):
                names += [c for c in route.channels if c not in names]
        return names

    def check_envs(self, known: set[str]) -> None:
        for n, route in enumerate(self.routes):
            unknown = set(route.envs) - known - {ANY}
            if unknown:
                raise ConfigError(
                    f"routes[{n}].envs: unknown environment(s) {', '.join(sorted(unknown))}"
                )


def load_notify_config(
    path: Path = DEFAULT_NOTIFY_FILE, known_envs: set[str] | None = None
) -> NotifyConfig:
    """Read and validate `notifications.toml`; one `ConfigError` naming file and key."""
    check = None if known_envs is None else (lambda c: c.check_envs(known_envs))
    return load_toml(path, NotifyConfig, "notifications file", check)
