"""The documents the app needs before its first release in an environment.

- `appConfig/app`: the environment's app configuration (maintenance switch, minimum versions).
- `compliance/{item}`: one placeholder per compliance gate; placeholders never pass a gate
  (`verified` false) until someone records real evidence.
- `_protected/{collection}`: markers naming the collections that hold users' data and money;
  rollbacks and migrations leave them alone.

`up` creates only documents that are missing, tagged `createdBy`, so it never clobbers
configuration an operator already wrote; `down` removes only documents it created and that
nobody has edited since.
"""

from __future__ import annotations

from typing import Any

version = "1.0.0"
description = "App config, compliance evidence placeholders, protected-collection markers"

CREATED_BY = "migration:1.0.0"
COMPLIANCE_ITEMS = {
    "termsOfService": "Terms of service published and accepted at sign-up",
    "privacyPolicy": "Privacy policy with the GDPR sections (controller, rights, retention)",
    "ageGate": "18+ age gate before any content",
    "kycProvider": "KYC provider configured for payouts",
    "contentModeration": "Content moderation for chat, media and AI companions",
    "refundPolicy": "Refund policy reachable from every purchase",
    "dataExport": "Users can export their data",
    "dataDeletion": "Users can delete their account and data",
    "cookieConsent": "Cookie consent on the web app",
}
PROTECTED = {
    "users": "profiles and account data",
    "balances": "wallet balances",
    "payments": "payment records",
    "chats": "private conversations",
}


def _app_config(env: str) -> dict[str, Any]:
    return {
        "environment": env,
        "maintenanceMode": False,
        "minAppVersion": {"ios": "1.0.0", "android": "1.0.0", "web": "1.0.0"},
        "paymentsMode": "live" if env == "production" else "test",
        "supportEmail": "support@avalo.app",
        "createdBy": CREATED_BY,
    }


def documents(env: str) -> dict[str, dict[str, Any]]:
    """Path -> content of every document this migration owns."""
    docs = {"appConfig/app": _app_config(env)}
    for item, text in COMPLIANCE_ITEMS.items():
        docs[f"compliance/{item}"] = {
            "item": item,
            "requirement": text,
            "status": "placeholder",
            "verified": False,
            "evidenceUrl": None,
            "createdBy": CREATED_BY,
        }
    for name, holds in PROTECTED.items():
        docs[f"_protected/{name}"] = {
            "collection": name,
            "holds": holds,
            "protected": True,
            "createdBy": CREATED_BY,
        }
    return docs


def up(ctx: Any) -> None:
    wanted = documents(ctx.env)
    existing = ctx.get_all(list(wanted))
    for path, data in wanted.items():
        if not existing[path].exists:
            ctx.writer.set(path, data)


def down(ctx: Any) -> None:
    wanted = documents(ctx.env)
    existing = ctx.get_all(list(wanted))
    for path, data in wanted.items():
        snap = existing[path]
        if snap.exists and snap.to_dict() == data:
            ctx.writer.delete(path)
        elif snap.exists:
            ctx.log.warning("%s was edited after migration 1.0.0: left in place", path)
