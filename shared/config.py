"""Environment configuration (`config/environments.toml`) and process settings.

The file is validated with pydantic; any problem becomes one `ConfigError` whose message names
the file and the offending key, so `releasectl` and the functions fail the same clear way.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal, Self, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.roles import COMMAND_ROLES, Requirement
from shared.errors import ConfigError
from shared.mobile.settings import MobileConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = REPO_ROOT / "config" / "environments.toml"
DEFAULT_CONTROL_PROJECT = "demo-release-control"
# Project ids the emulators use: they never reach a real project (and are never deployed).
DEMO_PREFIX = "demo-"
PRODUCTION = "production"
M = TypeVar("M", bound=BaseModel)

EnvName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,29}$")]
ProjectId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Strict):
    """Alert thresholds the bake analysis compares metrics with (issue: gates and monitoring)."""

    function_error_rate: float = Field(0.05, ge=0, le=1)
    payment_failure_rate: float = Field(0.02, ge=0, le=1)
    crash_free_rate: float = Field(0.99, ge=0, le=1)
    panic_surge_factor: float = Field(3.0, gt=1)
    ai_token_spend_factor: float = Field(10.0, gt=1)
    api_p95_latency_factor: float = Field(1.5, gt=1)
    db_latency_factor: float = Field(1.5, gt=1)
    consecutive_breaches: int = Field(3, ge=1, le=60)
    min_requests: int = Field(100, ge=0)


# What a canary may split: Cloud Run services (the app's own and 2nd-gen functions). Hosting,
# Firestore rules and indexes serve one version at a time; they go out after the canary passed.
SPLITTABLE = ("functions",)
NOT_SPLITTABLE = ("hosting", "rules", "indexes")


class EnvConfig(_Strict):
    """One deployment environment: its own Firebase project."""

    name: EnvName
    project: ProjectId
    region: str = "europe-west1"
    approval_required: bool = False
    approvals: int = Field(1, ge=1, le=5)  # distinct approvers needed, none of them the author
    bake_minutes: int = Field(10, ge=0, le=24 * 60)
    lock_lease_minutes: int = Field(120, ge=1, le=7 * 24 * 60)
    thresholds: Thresholds = Thresholds()
    # a confirmed breach once the release is `live`: always alert; roll back too if "rollback"
    live_breach: Literal["alert", "rollback"] = "alert"
    # a bake whose metrics cannot be read this many ticks in a row (Argo Rollouts'
    # consecutiveErrorLimit) rolls back, or waits for a person with "pause"
    metrics_error_limit: int = Field(4, ge=1, le=100)
    on_metrics_error: Literal["rollback", "pause"] = "rollback"
    # progressive canary (as Cloud Deploy): the new revision's traffic percentages, one bake of
    # `bake_minutes` each, then 100 %; empty = all at once (docs/CANARY.md)
    canary: tuple[int, ...] = ()
    canary_targets: tuple[str, ...] = ("functions",)
    # how long each canary step bakes, in minutes (fractions allowed: 0.5 = 30 s); unset:
    # `bake_minutes`. The judge needs `min_windows` windows a side within a step.
    canary_step_minutes: float | None = Field(None, gt=0, le=24 * 60)

    @field_validator("canary")
    @classmethod
    def _ascending_percentages(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= p <= 99 for p in steps):
            raise ValueError(f"each step is a percentage from 1 to 99, got {list(steps)}")
        if any(a >= b for a, b in pairwise(steps)):
            raise ValueError(f"steps must be strictly ascending, got {list(steps)}")
        return steps

    @property
    def step_minutes(self) -> float:
        """How long each canary step bakes."""
        return self.canary_step_minutes or self.bake_minutes

    @field_validator("canary_targets")
    @classmethod
    def _splittable(cls, targets: tuple[str, ...]) -> tuple[str, ...]:
        for target in targets:
            if target not in SPLITTABLE:
                why = (
                    "serves one version at a time (it is deployed after the canary passed)"
                    if target in NOT_SPLITTABLE
                    else "is not a known target"
                )
                raise ValueError(
                    f"{target!r} cannot split traffic: it {why}; "
                    f"targets that can: {', '.join(SPLITTABLE)}"
                )
        return targets

    # a bake that ends inconclusive (too little traffic to judge): go live, or hold it for a
    # person (`release approve` / `release rollback`); unset: pause in production only
    on_inconclusive: Literal["promote", "pause"] | None = None
    # a backup of the env's database before a rollout migrates (and before a rollback
    # restores); unset: production only. Kept: the newest `backups_keep`.
    backup: bool | None = None
    backups_keep: int = Field(7, ge=1, le=1000)
    # where managed exports go on Google Cloud (gs://…); locally .local/backups/
    backup_bucket: str | None = Field(None, pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,220}(/.*)?$")
    # command type -> the role it needs here, over the default table (shared/domain/roles.py)
    roles: dict[str, Requirement] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_commands(self) -> Self:
        unknown = sorted(set(self.roles) - set(COMMAND_ROLES))
        if unknown:
            raise ValueError(
                f"roles: unknown command {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(sorted(COMMAND_ROLES))})"
            )
        return self

    @property
    def backs_up(self) -> bool:
        return self.backup if self.backup is not None else self.name == PRODUCTION

    @property
    def inconclusive_action(self) -> Literal["promote", "pause"]:
        if self.on_inconclusive is not None:
            return self.on_inconclusive
        return "pause" if self.name == PRODUCTION else "promote"


class ControlConfig(_Strict):
    project: ProjectId = DEFAULT_CONTROL_PROJECT
    region: str = "europe-west1"
    # approve/reject must carry the approver's Firebase ID token for the control project
    signed_approvals: bool = True
    # every command from a person must carry their ID token; the roles in it are checked
    signed_commands: bool = True


class PlaneConfig(_Strict):
    """The whole `environments.toml`."""

    control: ControlConfig = ControlConfig()
    environments: dict[EnvName, EnvConfig]
    # the Android and iOS apps and their release trains (docs/MOBILE.md); none: backend only
    mobile: MobileConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_environments(cls, data: object) -> object:
        # The TOML table key is the environment's name; copy it in so each EnvConfig knows it.
        if isinstance(data, dict) and isinstance(data.get("environments"), dict):
            envs = data["environments"]
            data = {
                **data,
                "environments": {
                    k: {"name": k, **v} if isinstance(v, dict) else v for k, v in envs.items()
                },
            }
        return data

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.environments:
            raise ValueError("environments: at least one environment is required")
        prod = self.environments.get(PRODUCTION)
        if prod is not None and not prod.approval_required:
            raise ValueError(
                "environments.production.approval_required: production always requires approval"
            )
        if self.mobile is not None:
            for key in ("env", "testing_env"):
                name = getattr(self.mobile, key)
                if name not in self.environments:
                    raise ValueError(f"mobile.{key}: unknown environment {name!r}")
        projects = [e.project for e in self.environments.values()]
        if len(set(projects)) != len(projects):
            raise ValueError("environments.*.project: each environment needs its own project")
        return self

    def env(self, name: str) -> EnvConfig:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments))
            raise ConfigError(f"unknown environment {name!r} (known: {known})") from None


def describe_errors(err: ValidationError) -> str:
    """Every wrong key of a config file as `dotted.key: what is wrong`, on one line."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def load_toml(
    path: Path,
    model: type[M],
    what: str = "config file",
    check: Callable[[M], object] | None = None,
) -> M:
    """Read a TOML file into `model` (then `check` it): one `ConfigError` naming file and key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        config = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_errors(exc)}") from None
    if check is not None:
        try:
            check(config)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return config


def load_config(path: Path = DEFAULT_CONFIG_FILE) -> PlaneConfig:
    """Read and validate `environments.toml`."""
    return load_toml(path, PlaneConfig)


class Settings(BaseSettings):
    """Process settings, from environment variables (same names locally and on Google Cloud)."""

    model_config = SettingsConfigDict(env_prefix="RELEASECTL_", extra="ignore")

    config_file: Path = DEFAULT_CONFIG_FILE
    control_project: str | None = Field(
        None, validation_alias=AliasChoices("RELEASECTL_CONTROL_PROJECT", "GOOGLE_CLOUD_PROJECT")
    )
    release_events_topic: str = "release-events"
    release_commands_topic: str = "release-commands"
    # auto: the local stack's runner and sample app when RELEASECTL_LOCAL_DIR names a running
    # stack; Google Cloud otherwise; nothing on bare emulators (tests play Cloud Build there).
    build_backend: Literal["auto", "cloudbuild", "local", "none"] = "auto"
    deploy_target: Literal["auto", "gcp", "local", "none"] = "auto"
    local_dir: Path | None = None
    # the control project's Firebase Web API key: `releasectl auth login` signs approvers in
    firebase_api_key: str | None = None
    firebase_auth_emulator_host: str | None = Field(
        None, validation_alias=AliasChoices("FIREBASE_AUTH_EMULATOR_HOST")
    )
    firestore_emulator_host: str | None = Field(
        None, validation_alias=AliasChoices("FIRESTORE_EMULATOR_HOST")
    )
    # Remote Config's REST base URL: Google's on Google Cloud; the local simulator's with the
    # emulators (a running local stack names its own); unset on bare emulators: not delivered
    remote_config_url: str | None = None

    @property
    def local(self) -> bool:
        return bool(self.firestore_emulator_host)

    def backend(self, chosen: str, cloud: str) -> str:
        """Resolve an `auto` adapter choice: local stack, bare emulators, or Google Cloud."""
        if chosen != "auto":
            return chosen
        if self.local_dir is not None:
            return "local"
        return "none" if self.local else cloud

    @cached_property
    def plane(self) -> PlaneConfig:
        return load_config(self.config_file)

    @property
    def project(self) -> str:
        return self.control_project or self.plane.control.project
