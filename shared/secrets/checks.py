"""Pure checks over secret metadata and Stripe key prefixes. No I/O, no clock: `now` is passed.

Each check is a `CheckResult`; a warning is `ok=False, required=False` (shown, never blocking).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.domain.messages import CheckResult, StepReport
from shared.secrets.model import SecretInfo, SecretsConfig, SecretSpec, StripeRole

Status = Literal["ok", "warn", "fail"]
StripeMode = Literal["live", "test"]
_STRIPE_PREFIX = re.compile(r"^(sk|pk|rk)_(live|test)_")
_ROLE_PREFIX: dict[StripeRole, str] = {
    "secret_key": "sk",  # nosec B105 -- Stripe key prefixes, not keys
    "publishable_key": "pk",
    "restricted_key": "rk",
}
# The longest prefix `stripe_key_kind` ever needs: nothing past it is looked at.
STRIPE_PREFIX_LEN = len("sk_live_")


def _result(name: str, status: Status, detail: str, **evidence: object) -> CheckResult:
    return CheckResult(
        name=name,
        ok=status == "ok",
        required=status != "warn",
        detail=detail,
        evidence={"status": status, **evidence},
    )


def status_of(check: CheckResult) -> Status:
    if check.ok:
        return "ok"
    return "fail" if check.required else "warn"


# -- inventory and rotation ----------------------------------------------------------------


def check_secret(
    spec: SecretSpec, info: SecretInfo | None, *, rotation_days: int, warn_days: int, now: datetime
) -> CheckResult:
    """Exists, has an enabled version, and that version is not (nearly) overdue for rotation."""
    name = f"secret {spec.name}"
    base: dict[str, object] = {"owner": spec.owner, "rotationDays": rotation_days}
    missing: Status = "fail" if spec.required else "warn"
    if info is None:
        return _result(name, missing, "does not exist", **base)
    current = info.current()
    if current is None:
        return _result(name, missing, "has no enabled version", **base)
    age = now - current.created_at
    due = current.created_at + timedelta(days=rotation_days)
    evidence = {**base, "version": current.id, "ageDays": age.days, "dueAt": due.isoformat()}
    left = due - now
    if left <= timedelta(0):
        overdue = (-left).days
        detail = f"overdue for rotation by {overdue} day(s) (rotate every {rotation_days} days)"
        return _result(name, "fail", detail, **evidence)
    if left <= timedelta(days=warn_days):
        detail = f"due for rotation in {left.days} day(s) (on {due.date().isoformat()})"
        return _result(name, "warn", detail, **evidence)
    return _result(name, "ok", f"version {current.id}, {age.days} day(s) old", **evidence)


def check_inventory(
    config: SecretsConfig, env: str, infos: Mapping[str, SecretInfo | None], now: datetime
) -> StepReport:
    """Every secret declared for `env`, checked; the report fails if any required check fails."""
    checks = tuple(
        check_secret(
            spec,
            infos.get(spec.name),
            rotation_days=config.rotation_days(spec),
            warn_days=config.defaults.warn_days,
            now=now,
        )
        for spec in config.for_env(env)
    )
    return _report(f"secrets in {env}", checks)


def _report(what: str, checks: tuple[CheckResult, ...]) -> StepReport:
    failed = [c for c in checks if status_of(c) == "fail"]
    warned = [c for c in checks if status_of(c) == "warn"]
    summary = f"{what}: {len(checks)} checked, {len(failed)} failed, {len(warned)} warning(s)"
    return StepReport(ran=True, ok=not failed, summary=summary, checks=checks)


# -- Stripe mode -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StripeKeyKind:
    """What a key's prefix says: its type (sk/pk/rk) and mode. Never the key itself."""

    prefix: str
    mode: StripeMode


def stripe_key_kind(value: str) -> StripeKeyKind | None:
    """Classify a Stripe key by its first characters only; None if it is not a Stripe key."""
    match = _STRIPE_PREFIX.match(value[:STRIPE_PREFIX_LEN])
    if match is None:
        return None
    mode: StripeMode = "live" if match.group(2) == "live" else "test"
    return StripeKeyKind(prefix=match.group(1), mode=mode)


def check_stripe_key(
    spec: SecretSpec, kind: StripeKeyKind | None, *, expected: StripeMode, env: str
) -> CheckResult:
    name = f"stripe mode {spec.name}"
    role = spec.stripe or "secret_key"
    want = _ROLE_PREFIX[role]
    evidence = {"expected": expected, "role": role}
    if kind is None:
        return _result(name, "fail", f"is not a Stripe {role.replace('_', ' ')}", **evidence)
    evidence["found"] = kind.mode
    if kind.prefix != want:
        detail = f"holds a {kind.prefix}_ key where a {want}_ key ({role}) belongs"
        return _result(name, "fail", detail, **evidence)
    if kind.mode != expected:
        detail = f"holds a {kind.mode}-mode key; {env} must use {expected}-mode keys"
        return _result(name, "fail", detail, **evidence)
    return _result(name, "ok", f"{expected}-mode {want}_ key", **evidence)


def check_stripe_modes(
    config: SecretsConfig, env: str, kinds: Mapping[str, StripeKeyKind | None]
) -> StepReport:
    """Dev and staging must hold test-mode keys, production live-mode keys.

    `kinds` has an entry for each Stripe secret that could be read; one without an entry (it
    does not exist) is left to the inventory check, which already fails it.
    """
    expected: StripeMode = "live" if config.live_mode(env) else "test"
    checks = tuple(
        check_stripe_key(spec, kinds[spec.name], expected=expected, env=env)
        for spec in config.for_env(env)
        if spec.stripe is not None and spec.name in kinds
    )
    return _report(f"stripe keys in {env}", checks)


def combine(summary: str, *reports: StepReport) -> StepReport:
    """Several reports as one gate result: it fails if any of them failed."""
    checks = tuple(c for r in reports for c in r.checks)
    parts = "; ".join(r.summary for r in reports)
    return StepReport(
        ran=True, ok=all(r.ok for r in reports), summary=f"{summary}: {parts}", checks=checks
    )


# -- rotation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinishPlan:
    """Which older versions to disable now, or why not yet."""

    disable: tuple[str, ...]
    note: str


def plan_finish(info: SecretInfo, now: datetime, grace: timedelta, *, force: bool) -> FinishPlan:
    """After a rotation, the older enabled versions are disabled once the grace period is over.

    The grace period runs from the newest version's creation, so clients that cached the old
    value keep working until they have reloaded; `force` ends it at once (a leaked secret).
    """
    enabled = info.enabled()
    if not enabled:
        return FinishPlan((), f"{info.name} has no enabled version: nothing to do")
    newest, older = enabled[0], tuple(v.id for v in enabled[1:])
    if not older:
        return FinishPlan((), f"{info.name}: only version {newest.id} is enabled: nothing to do")
    ends = newest.created_at + grace
    if not force and now < ends:
        return FinishPlan(
            (),
            f"{info.name}: grace period for version {newest.id} ends {ends.isoformat()}; "
            f"version(s) {', '.join(older)} stay enabled until then (or pass --now)",
        )
    return FinishPlan(older, f"{info.name}: disable version(s) {', '.join(older)}")
