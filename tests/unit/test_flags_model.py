"""Flag model validation, catalog policies and CLI edits (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.flags import edits
from shared.flags.model import Flag, FlagInvalid, check_transition, parse_flag

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def doc(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "enabled": True,
        "rolloutPercent": 10,
        "killSwitch": False,
        "alwaysOn": False,
        "allowUsers": [],
        "denyUsers": [],
        "owner": "calls-team",
        "description": "1:1 video calls",
        "updatedBy": "alice",
        "updatedAt": NOW,
    }
    return {**base, **fields}


SAFE = {"enabled": True, "rolloutPercent": 100, "alwaysOn": True}


def test_a_full_contract_document_parses() -> None:
    flag = parse_flag("videoCalls", doc(seed="vc-2026", allowUsers=["u1"]))
    assert flag.rollout_percent == 10
    assert flag.micro_percent == 10_000_000
    assert flag.seed_for("videoCalls") == "vc-2026"
    assert parse_flag("videoCalls", doc()).seed_for("videoCalls") == "videoCalls"


def test_to_doc_round_trips_with_camel_case_fields() -> None:
    flag = parse_flag("events", doc(rolloutPercent=12.5, denyUsers=["x"]))
    out = flag.to_doc()
    assert out["rolloutPercent"] == 12.5
    assert out["denyUsers"] == ["x"]
    assert parse_flag("events", out) == flag


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rolloutPercent": 140}, "rolloutPercent"),
        ({"rolloutPercent": -1}, "rolloutPercent"),
        ({"rolloutPercent": 12.345}, "two decimals"),
        ({"rolloutPercent": "10"}, "rolloutPercent"),
        ({"enabled": "true"}, "enabled"),
        ({"enabled": 1}, "enabled"),
        ({"killSwitch": None}, "killSwitch"),
        ({"allowUsers": "u1"}, "allowUsers"),
        ({"allowUsers": ["  "]}, "allowUsers"),
        ({"seed": "has space"}, "seed"),
        ({"seed": "x" * 33}, "seed"),
        ({"updatedAt": "yesterday"}, "updatedAt"),
        ({"rolloutPercnt": 10}, "rolloutPercnt: unknown field"),
    ],
)
def test_invalid_values_are_refused_with_the_field_named(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(FlagInvalid, match=message):
        parse_flag("videoCalls", doc(**fields))


def test_missing_required_field_is_named() -> None:
    data = doc()
    del data["rolloutPercent"]
    with pytest.raises(FlagInvalid, match="rolloutPercent: Field required"):
        parse_flag("videoCalls", data)


def test_every_problem_is_reported_in_one_error() -> None:
    with pytest.raises(FlagInvalid) as err:
        parse_flag("videoCalls", doc(rolloutPercent=140, enabled="yes"))
    assert "rolloutPercent" in err.value.reason
    assert "enabled" in err.value.reason


@pytest.mark.parametrize(
    "fields",
    [
        {"enabled": False},
        {"rolloutPercent": 99},
        {"killSwitch": True},
        {"denyUsers": ["u1"]},
        {"alwaysOn": False},
    ],
)
def test_safety_flags_may_never_be_weakened(fields: dict[str, Any]) -> None:
    with pytest.raises(FlagInvalid):
        parse_flag("panicTracking", {**SAFE, **fields})
    assert parse_flag("refundButtons", SAFE).always_on


def test_wallet_is_kill_only() -> None:
    on = {"enabled": True, "rolloutPercent": 100}
    assert parse_flag("wallet", {**on, "killSwitch": True}).kill_switch
    with pytest.raises(FlagInvalid, match="kill switch"):
        parse_flag("wallet", {**on, "enabled": False})
    with pytest.raises(FlagInvalid, match="kill switch"):
        parse_flag("wallet", {**on, "rolloutPercent": 50})


def test_always_on_is_enforced_for_any_flag_that_has_it() -> None:
    with pytest.raises(FlagInvalid, match="alwaysOn"):
        parse_flag("customFlag", {"enabled": False, "rolloutPercent": 100, "alwaysOn": True})


def test_transitions_protect_always_on_and_protected_flags() -> None:
    always = parse_flag("customFlag", {"enabled": True, "rolloutPercent": 100, "alwaysOn": True})
    plain = parse_flag("customFlag", {"enabled": True, "rolloutPercent": 100})
    with pytest.raises(FlagInvalid, match="alwaysOn may not be turned off"):
        check_transition("customFlag", always, plain)
    with pytest.raises(FlagInvalid, match="may not be deleted"):
        check_transition(
            "wallet", parse_flag("wallet", {"enabled": True, "rolloutPercent": 100}), None
        )
    check_transition("customFlag", plain, None)  # a plain flag may go
    check_transition("customFlag", plain, always)  # and may become always on


@pytest.mark.parametrize("name", ["", "1abc", "a/b", "x" * 33, "with space"])
def test_bad_flag_names(name: str) -> None:
    with pytest.raises(FlagInvalid, match="flag name"):
        parse_flag(name, doc())


def test_edit_changes_only_what_was_given() -> None:
    current = parse_flag("videoCalls", doc())
    new = edits.Edit("videoCalls", rollout_percent=25)(current)
    assert (new.enabled, new.rollout_percent, new.owner) == (True, 25, "calls-team")
    assert edits.kill("videoCalls")(new).kill_switch
    assert not edits.unkill("videoCalls")(edits.kill("videoCalls")(new)).kill_switch


def test_edit_refuses_unknown_flags_and_bad_values() -> None:
    with pytest.raises(FlagInvalid, match="unknown flag"):
        edits.Edit("nope", enabled=True)(None)
    created = edits.Edit("nope", enabled=True, rollout_percent=5, create=True)(None)
    assert created.rollout_percent == 5
    with pytest.raises(FlagInvalid, match="already exists"):
        edits.Edit("nope", create=True)(created)
    with pytest.raises(FlagInvalid, match="two decimals"):
        edits.Edit("videoCalls", rollout_percent=1.234)(parse_flag("videoCalls", doc()))
    safety = parse_flag("refundButtons", SAFE)
    with pytest.raises(FlagInvalid):
        edits.kill("refundButtons")(safety)


def test_flag_is_immutable() -> None:
    flag = Flag(enabled=True, rollout_percent=5)
    with pytest.raises(ValueError, match="frozen"):
        flag.enabled = False  # type: ignore[misc]
