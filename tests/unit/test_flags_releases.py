"""Releases and flags: turn on at P% after live, take back on rollback (pure plans)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.flags.model import Flag, FlagInvalid, parse_flag
from shared.flags.releases import (
    FlagRequirement,
    parse_requirements,
    plan_turn_off,
    plan_turn_on,
    turn_off,
    turn_on,
)


def f(name: str, **fields: Any) -> Flag:
    return parse_flag(name, {"enabled": False, "rolloutPercent": 0, **fields})


ENV = {
    "videoCalls": f("videoCalls"),
    "events": f("events", enabled=True, rolloutPercent=25),
    "aiCompanions": f("aiCompanions", enabled=True, rolloutPercent=5, killSwitch=True),
}


def test_parse_requirements() -> None:
    reqs = parse_requirements("videoCalls=10, events = 2.5,")
    assert reqs == [
        FlagRequirement(flag="videoCalls", rollout_percent=10),
        FlagRequirement(flag="events", rollout_percent=2.5),
    ]
    assert parse_requirements("") == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("videoCalls", "flag=percent"),
        ("videoCalls=0", "percent"),
        ("videoCalls=101", "percent"),
        ("videoCalls=ten", "percent"),
        ("videoCalls=1,videoCalls=2", "twice"),
        ("panicTracking=100", "protected"),
        ("bad name=1", "flag name"),
    ],
)
def test_bad_requirements_are_refused(spec: str, message: str) -> None:
    with pytest.raises(FlagInvalid, match=message):
        parse_requirements(spec)


def test_turn_on_after_live() -> None:
    changes = plan_turn_on("2.4.0", parse_requirements("videoCalls=10,events=10"), ENV)
    assert [c.flag for c in changes] == ["videoCalls"]  # events is already higher: untouched
    (vc,) = changes
    assert vc.before is not None
    assert vc.before["enabled"] is False
    assert vc.after["enabled"] is True
    assert vc.after["rolloutPercent"] == 10
    assert vc.release == "2.4.0"


def test_turn_on_raises_a_lower_rollout_and_keeps_a_kill() -> None:
    new = turn_on(FlagRequirement(flag="aiCompanions", rollout_percent=20), ENV["aiCompanions"])
    assert new is not None
    assert new.rollout_percent == 20
    assert new.kill_switch


def test_turn_on_is_idempotent_and_refuses_unknown_flags() -> None:
    req = FlagRequirement(flag="videoCalls", rollout_percent=10)
    once = turn_on(req, ENV["videoCalls"])
    assert once is not None
    assert turn_on(req, once) is None
    with pytest.raises(FlagInvalid, match="unknown flag"):
        turn_on(FlagRequirement(flag="ghost", rollout_percent=1), None)


def test_rollback_turns_off_what_the_release_turned_on() -> None:
    applied = plan_turn_on("2.4.0", parse_requirements("videoCalls=10"), ENV)
    live = {
        **ENV,
        "videoCalls": parse_flag("videoCalls", {**ENV["videoCalls"].to_doc(), **applied[0].after}),
    }
    undo = plan_turn_off("2.4.0", applied, live)
    assert len(undo) == 1
    assert undo[0].after["enabled"] is False
    assert undo[0].after["rolloutPercent"] == 0


def test_rollback_restores_a_previous_lower_rollout() -> None:
    start = f("events", enabled=True, rolloutPercent=5)
    applied = plan_turn_on("2.4.0", parse_requirements("events=30"), {"events": start})
    now = parse_flag("events", {**start.to_doc(), **applied[0].after})
    (change,) = applied
    back = turn_off(change, now)
    assert back is not None
    assert back.enabled
    assert back.rollout_percent == 5


def test_rollback_leaves_flags_someone_changed_since() -> None:
    applied = plan_turn_on("2.4.0", parse_requirements("videoCalls=10"), ENV)
    edited = {"videoCalls": f("videoCalls", enabled=True, rolloutPercent=50)}
    assert plan_turn_off("2.4.0", applied, edited) == []


def test_rollback_ignores_other_releases_changes() -> None:
    applied = plan_turn_on("2.4.0", parse_requirements("videoCalls=10"), ENV)
    live = {"videoCalls": parse_flag("videoCalls", applied[0].after)}
    assert plan_turn_off("2.5.0", applied, live) == []


def test_changes_round_trip_through_json_for_storage() -> None:
    (change,) = plan_turn_on("2.4.0", parse_requirements("videoCalls=10"), ENV)
    assert type(change).model_validate_json(change.model_dump_json()) == change
