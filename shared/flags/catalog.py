"""The Avalo flag set and the policy each flag follows (issue 6).

Policies are code, not document fields, so a console edit cannot relax them.
"""

from __future__ import annotations

from enum import StrEnum


class Policy(StrEnum):
    PLAIN = "plain"  # any valid value
    ALWAYS_ON = "always_on"  # safety feature: never off, never below 100%
    KILL_ONLY = "kill_only"  # on for everyone; only the emergency kill switch turns it off


POLICIES: dict[str, Policy] = {
    "refundButtons": Policy.ALWAYS_ON,
    "panicTracking": Policy.ALWAYS_ON,
    "wallet": Policy.KILL_ONLY,
}
AVALO_FLAGS: tuple[str, ...] = (
    "aiCompanions",
    "videoCalls",
    "calendarPayments",
    "events",
    "refundButtons",
    "panicTracking",
    "wallet",
    "chatBilling",
)


def policy(name: str) -> Policy:
    return POLICIES.get(name, Policy.PLAIN)


def protected(name: str) -> bool:
    return policy(name) is not Policy.PLAIN


def policy_violation(name: str, enabled: bool, percent: float, always_on: bool) -> str | None:
    """Why these values break the flag's policy, or None."""
    rule = policy(name)
    if rule is Policy.ALWAYS_ON and not always_on:
        return "alwaysOn: this safety flag must stay always on"
    if rule is Policy.KILL_ONLY and not (enabled and percent == 100):
        return "enabled/rolloutPercent: this flag stays on at 100%; use the kill switch instead"
    return None


def safe_default(name: str) -> dict[str, object]:
    """The value the guard restores when no valid previous value exists."""
    rule = policy(name)
    if rule is Policy.ALWAYS_ON:
        return {"enabled": True, "rolloutPercent": 100, "alwaysOn": True}
    if rule is Policy.KILL_ONLY:
        return {"enabled": True, "rolloutPercent": 100}
    return {"enabled": False, "rolloutPercent": 0}
