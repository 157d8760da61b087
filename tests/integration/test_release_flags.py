"""A release's flags on the environment's real Firestore: on when live, back on rollback."""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from shared.adapters.release_flags import FirestoreReleaseFlags
from shared.config import PlaneConfig
from shared.local import emulators

CALLS = {
    "enabled": False, "rolloutPercent": 0, "killSwitch": False, "alwaysOn": False,
    "allowUsers": [], "denyUsers": [], "owner": "calls-team", "description": "video calls",
    "updatedBy": "migration 002",
}  # fmt: skip


def test_flags_go_on_with_the_release_and_come_back_off_with_its_rollback(
    emulator_env: dict[str, str], plane: PlaneConfig
) -> None:
    env = plane.env("staging")
    emulators.reset_firestore(emulator_env["FIRESTORE_EMULATOR_HOST"], env.project)
    db = firestore.Client(project=env.project)
    db.document("featureFlags/videoCalls").set(CALLS)
    flags = FirestoreReleaseFlags()

    applied = flags.turn_on("2.0.0", env, "videoCalls=10")
    doc: dict[str, Any] = db.document("featureFlags/videoCalls").get().to_dict() or {}
    assert (doc["enabled"], doc["rolloutPercent"]) == (True, 10)
    assert doc["updatedBy"] == "release 2.0.0"
    assert flags.turn_on("2.0.0", env, "videoCalls=10") == []  # a repeat writes nothing

    reverted = flags.turn_off("2.0.0", env, applied)
    doc = db.document("featureFlags/videoCalls").get().to_dict() or {}
    assert (doc["enabled"], doc["rolloutPercent"]) == (False, 0)
    assert [c["flag"] for c in reverted] == ["videoCalls"]
