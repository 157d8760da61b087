"""The app's feature flags: `featureFlags/{flag}` in each environment's project.

Field names are the contract the flags evaluator reads (camelCase). `up` creates only flags
that are missing, so a flag an operator already set in the console is never reset; `down`
removes only flags still exactly as `up` wrote them (`updatedBy` is this migration), and never
the safety flags (refundButtons, panicTracking, wallet): the flags policy forbids deleting
them and the console-edit guard would put them straight back.
"""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

version = "1.1.0"
description = "Feature flags: AI companions, video calls, calendar payments, events, ..."

UPDATED_BY = "migration:1.1.0"
SAFETY_FLAGS = frozenset({"refundButtons", "panicTracking", "wallet"})


def _flag(
    name: str,
    owner: str,
    text: str,
    *,
    enabled: bool,
    rollout: float,
    always_on: bool = False,
) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "rolloutPercent": rollout,
        "killSwitch": False,
        "alwaysOn": always_on,
        "allowUsers": [],
        "denyUsers": [],
        "seed": name,
        "owner": owner,
        "description": text,
        "updatedBy": UPDATED_BY,
    }


FLAGS: dict[str, dict[str, Any]] = {
    "aiCompanions": _flag(
        "aiCompanions", "ai", "AI companion chats (off until launch)", enabled=False, rollout=0
    ),
    "videoCalls": _flag(
        "videoCalls", "calls", "One-to-one video calls, gradual rollout", enabled=True, rollout=10
    ),
    "calendarPayments": _flag(
        "calendarPayments", "payments", "Paid calendar bookings", enabled=False, rollout=0
    ),
    "events": _flag("events", "growth", "Events and meetups", enabled=True, rollout=25),
    "refundButtons": _flag(
        "refundButtons",
        "payments",
        "Refund buttons: legal requirement, always on",
        enabled=True,
        rollout=100,
        always_on=True,
    ),
    "panicTracking": _flag(
        "panicTracking",
        "safety",
        "Panic button location tracking: safety, always on",
        enabled=True,
        rollout=100,
        always_on=True,
    ),
    "wallet": _flag(
        "wallet",
        "payments",
        "Wallet; killSwitch is for emergencies only",
        enabled=True,
        rollout=100,
    ),
    "chatBilling": _flag(
        "chatBilling", "payments", "Billing for paid chat messages", enabled=False, rollout=0
    ),
}


def up(ctx: Any) -> None:
    paths = [f"featureFlags/{name}" for name in FLAGS]
    existing = ctx.get_all(paths)
    for name, data in FLAGS.items():
        path = f"featureFlags/{name}"
        if existing[path].exists:
            ctx.log.info("%s already exists: left as it is", path)
            continue
        ctx.writer.set(path, {**data, "updatedAt": firestore.SERVER_TIMESTAMP})


def down(ctx: Any) -> None:
    paths = [f"featureFlags/{name}" for name in FLAGS]
    existing = ctx.get_all(paths)
    for name, data in FLAGS.items():
        snap = existing[f"featureFlags/{name}"]
        if not snap.exists:
            continue
        if name in SAFETY_FLAGS:
            ctx.log.info("featureFlags/%s is a safety flag: it outlives a downgrade", name)
            continue
        current = {k: v for k, v in snap.to_dict().items() if k != "updatedAt"}
        if current == data:
            ctx.writer.delete(snap.reference)
        else:
            ctx.log.warning("featureFlags/%s was changed since 1.1.0: left in place", name)
