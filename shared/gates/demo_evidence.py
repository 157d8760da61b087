"""Verified compliance evidence for a local demo environment (never for a real project).

`compliance/{item}` documents with every field the gates read, marked `verifiedBy:
local-demo`, so the local stack can show a production rollout passing its compliance gates
(and, by deleting or editing one, failing them). Write them with `write_demo_evidence`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.errors import ControlPlaneError
from shared.gates.settings import GDPR_SECTIONS

DEMO_VERIFIER = "local-demo"


def demo_evidence(now: datetime) -> dict[str, dict[str, Any]]:
    """Path → document for each compliance item, verified as of `now`."""
    common = {"status": "verified", "verified": True, "verifiedBy": DEMO_VERIFIER}
    common["verifiedAt"] = now
    fields: dict[str, dict[str, Any]] = {
        "termsOfService": {"version": "demo-1", "versionDate": now - timedelta(days=30)},
        "privacyPolicy": {"sections": list(GDPR_SECTIONS)},
        "ageGate": {"enabled": True, "minimumAge": 18},
        "kycProvider": {"provider": "demo-kyc", "active": True, "configured": True, "mode": "live"},
        "contentModeration": {"enabled": True, "provider": "demo-moderation"},
        "refundPolicy": {},
        "dataExport": {"enabled": True},
        "dataDeletion": {"enabled": True},
        "cookieConsent": {"enabled": True},
    }
    return {f"compliance/{item}": {**common, **extra} for item, extra in fields.items()}


def write_demo_evidence(db: Any, now: datetime) -> None:
    """Write the demo evidence into one env project's Firestore (`db` is that project's client)."""
    project = str(getattr(db, "project", ""))
    if project and not project.startswith("demo-"):
        raise ControlPlaneError(f"demo evidence goes only into demo- projects, not {project}")
    for path, doc in demo_evidence(now).items():
        db.document(path).set(doc)
