"""What the CLI and the production gates do with secrets: the I/O around the pure checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.clock import Clock, utcnow
from shared.config import REPO_ROOT, EnvConfig
from shared.domain.messages import CheckResult, StepReport
from shared.domain.model import Release
from shared.errors import ControlPlaneError, Refused
from shared.redaction import remember
from shared.secrets import checks
from shared.secrets.model import (
    DEFAULT_SECRETS_FILE,
    MAX_SECRET_BYTES,
    SecretInfo,
    SecretsConfig,
    SecretSpec,
    SecretVersion,
    load_secrets_config,
)
from shared.secrets.ports import SecretStore


class SecretsSettings(BaseSettings):
    """Where secrets live: Secret Manager on Google Cloud, files under `.local/` locally."""

    model_config = SettingsConfigDict(env_prefix="RELEASECTL_SECRETS_", extra="ignore")

    file: Path = DEFAULT_SECRETS_FILE
    # auto: local files when the emulators are in use, Secret Manager otherwise
    backend: Literal["auto", "gsm", "local"] = "auto"
    dir: Path = REPO_ROOT / ".local" / "secrets"
    firestore_emulator_host: str | None = Field(
        None, validation_alias=AliasChoices("FIRESTORE_EMULATOR_HOST")
    )

    def uses_local(self) -> bool:
        return self.backend == "local" or (
            self.backend == "auto" and bool(self.firestore_emulator_host)
        )

    def config(self, known_envs: set[str] | None = None) -> SecretsConfig:
        return load_secrets_config(self.file, known_envs)


# -- reading ---------------------------------------------------------------------------------


def inventory(store: SecretStore, specs: list[SecretSpec]) -> dict[str, SecretInfo | None]:
    return {spec.name: store.describe(spec.name) for spec in specs}


def read_value(store: SecretStore, name: str, info: SecretInfo | None = None) -> str | None:
    """The current value of a secret (registered for redaction at once), or None if none."""
    info = info if info is not None else store.describe(name)
    current = info.current() if info else None
    if current is None:
        return None
    value = store.access(name, current.id)
    remember(value)
    return value


def stripe_kinds(
    store: SecretStore, specs: list[SecretSpec], infos: dict[str, SecretInfo | None]
) -> dict[str, checks.StripeKeyKind | None]:
    """What each existing Stripe key's prefix says. The values are dropped here."""
    kinds: dict[str, checks.StripeKeyKind | None] = {}
    for spec in specs:
        info = infos.get(spec.name)
        if spec.stripe is None or info is None or info.current() is None:
            continue
        value = read_value(store, spec.name, info)
        kinds[spec.name] = checks.stripe_key_kind(value or "")
    return kinds


def check_env(
    config: SecretsConfig, env: str, store: SecretStore, now: datetime, *, stripe: bool = True
) -> StepReport:
    """The secrets check and (unless `stripe=False`) the Stripe mode check, as one report."""
    specs = config.for_env(env)
    infos = inventory(store, specs)
    reports = [checks.check_inventory(config, env, infos, now)]
    if stripe:
        reports.append(checks.check_stripe_modes(config, env, stripe_kinds(store, specs, infos)))
    return checks.combine(f"secrets gate ({env})", *reports)


class SecretsGate:
    """The secrets and Stripe-mode checks as a `GateRunner` (compose it into the gates).

    It fails closed: a store that cannot be read blocks the rollout with the reason.
    """

    def __init__(
        self,
        config: SecretsConfig,
        stores: Callable[[EnvConfig], SecretStore],
        clock: Clock = utcnow,
        envs: frozenset[str] | None = None,
    ) -> None:
        self.config, self.stores, self.clock = config, stores, clock
        self.envs = envs  # None: every environment; e.g. frozenset({"production"})

    def run(self, release: Release, env: EnvConfig) -> StepReport:
        if self.envs is not None and env.name not in self.envs:
            return StepReport.not_run(f"secrets gate does not apply to {env.name}", ok=True)
        try:
            return check_env(self.config, env.name, self.stores(env), self.clock())
        except ControlPlaneError as exc:
            check = CheckResult(name="secret store", ok=False, detail=str(exc))
            return StepReport(
                ran=True,
                ok=False,
                summary=f"secrets gate ({env.name}): store error",
                checks=(check,),
            )


# -- writing ---------------------------------------------------------------------------------


def clean_value(spec: SecretSpec, raw: bytes, *, live: bool, env: str) -> bytes:
    """The bytes to store, or `Refused` naming what is wrong (never echoing the value)."""
    if len(raw) > MAX_SECRET_BYTES:
        raise Refused(f"{spec.name}: value is larger than {MAX_SECRET_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(f"{spec.name}: value is not UTF-8 text") from None
    # `echo value | releasectl secrets rotate` adds one newline: not part of the secret.
    text = text.removesuffix("\n").removesuffix("\r")
    if not text.strip():
        raise Refused(f"{spec.name}: empty value on stdin")
    if text != text.strip():
        raise Refused(f"{spec.name}: value has leading or trailing whitespace")
    if spec.stripe is not None:
        expected: checks.StripeMode = "live" if live else "test"
        result = checks.check_stripe_key(
            spec, checks.stripe_key_kind(text), expected=expected, env=env
        )
        if not result.ok:
            raise Refused(f"{spec.name}: {result.detail}")
    return text.encode("utf-8")


def rotate(
    config: SecretsConfig, env: str, store: SecretStore, name: str, raw: bytes
) -> SecretVersion:
    """Add a new version of a declared secret; older versions stay enabled (grace period)."""
    spec = config.spec(name)
    if not spec.applies_to(env):
        raise Refused(f"secret {name} is not declared for environment {env}")
    value = clean_value(spec, raw, live=config.live_mode(env), env=env)
    remember(value.decode("utf-8"))
    return store.add_version(name, value)


def finish_rotation(
    config: SecretsConfig, store: SecretStore, name: str, now: datetime, *, force: bool
) -> checks.FinishPlan:
    """Disable the versions a rotation replaced, once the grace period is over."""
    info = store.describe(name)
    if info is None:
        raise Refused(f"secret {name} does not exist in {store.project}")
    grace = timedelta(hours=config.defaults.grace_hours)
    plan = checks.plan_finish(info, now, grace, force=force)
    for version in plan.disable:
        store.disable(name, version)
    return plan


def template(config: SecretsConfig, env: str) -> str:
    """A `.env`-style template: names and descriptions, never values."""
    lines = [
        f"# Secrets for {env} (from config/secrets.toml). Fill in locally; never commit values.",
        "# Store them with: releasectl secrets rotate NAME --env " + env + " < file",
        "",
    ]
    for spec in config.for_env(env):
        mode = ""
        if spec.stripe is not None:
            mode = f" [{'live' if config.live_mode(env) else 'test'}-mode Stripe key]"
        lines.append(f"# {spec.description}{mode} (owner: {spec.owner}, {spec.used_by})")
        lines.append(f"{spec.name}=")
        lines.append("")
    return "\n".join(lines)
