"""The app-facing API on a live listener, and the release flag hooks, on the Firestore emulator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from google.cloud import firestore

from shared.flags import edits
from shared.flags.release_hooks import (
    actor_for,
    apply_planned,
    apply_turn_off,
    apply_turn_on,
    current_flags,
)
from shared.flags.releases import parse_requirements, plan_turn_off, plan_turn_on
from shared.flags.runtime import install, is_feature_enabled_for_user
from shared.flags.store import FirestoreFlagStore
from shared.local import emulators

STAGING = "demo-avalo-staging"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(emulator_env: dict[str, str]) -> Iterator[FirestoreFlagStore]:
    emulators.reset_firestore(emulator_env["FIRESTORE_EMULATOR_HOST"], STAGING)
    db = firestore.Client(project=STAGING)
    flags = db.collection("featureFlags")
    flags.document("videoCalls").set({"enabled": False, "rolloutPercent": 0})
    flags.document("events").set({"enabled": True, "rolloutPercent": 5})
    flags.document("panicTracking").set({"enabled": True, "rolloutPercent": 100, "alwaysOn": True})
    yield FirestoreFlagStore(db)
    db.close()


def eventually(probe: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_is_feature_enabled_for_user_follows_the_collection(
    store: FirestoreFlagStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELEASECTL_FLAGS_PROJECT", STAGING)
    install(None)
    try:
        assert is_feature_enabled_for_user("panicTracking", "u1")
        assert not is_feature_enabled_for_user("videoCalls", "u1")
        assert not is_feature_enabled_for_user("noSuchFlag", "u1")
        store.change("videoCalls", edits.Edit("videoCalls", True, 100), "ops", NOW)
        eventually(lambda: is_feature_enabled_for_user("videoCalls", "u1"), "the rollout")
        store.change("videoCalls", edits.kill("videoCalls"), "ops", NOW)
        eventually(lambda: not is_feature_enabled_for_user("videoCalls", "u1"), "the kill")
    finally:
        install(None)  # stops the listener this test started


def test_release_turns_flags_on_after_live_and_off_on_rollback(store: FirestoreFlagStore) -> None:
    reqs = parse_requirements("videoCalls=10,events=20")
    applied = apply_turn_on(store, "2.4.0", reqs, NOW)
    assert [(c.flag, c.after["rolloutPercent"]) for c in applied] == [
        ("videoCalls", 10),
        ("events", 20),
    ]
    assert apply_turn_on(store, "2.4.0", reqs, NOW) == []  # idempotent
    doc = store.get_doc("videoCalls") or {}
    assert (doc["enabled"], doc["updatedBy"]) == (True, actor_for("2.4.0"))
    # Someone raises events by hand after the release: rollback must leave it alone.
    store.change("events", edits.Edit("events", rollout_percent=50), "product", NOW)
    undone = apply_turn_off(store, "2.4.0", applied, NOW)
    assert [c.flag for c in undone] == ["videoCalls"]
    assert (store.get_doc("videoCalls") or {})["enabled"] is False
    assert (store.get_doc("events") or {})["rolloutPercent"] == 50


def test_planned_changes_apply_once_and_never_over_a_human_edit(store: FirestoreFlagStore) -> None:
    plan = plan_turn_on(
        "2.5.0", parse_requirements("videoCalls=10,events=20"), current_flags(store)
    )
    assert [c.flag for c in apply_planned(store, plan, NOW)] == ["videoCalls", "events"]
    assert apply_planned(store, plan, NOW) == []  # a repeat after a crash writes nothing
    store.change("events", edits.Edit("events", rollout_percent=60), "product", NOW)
    undo = plan_turn_off("2.5.0", plan, current_flags(store))
    assert [c.flag for c in undo] == ["videoCalls"]
    assert apply_planned(store, undo, NOW) == undo
    assert (store.get_doc("videoCalls") or {})["enabled"] is False
    assert (store.get_doc("events") or {})["rolloutPercent"] == 60
