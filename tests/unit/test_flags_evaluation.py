"""Evaluation precedence, the compiled fast path, snapshots and the unknown-flag rule."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from shared.flags.bucketing import InvalidUserId, micro_percentile
from shared.flags.evaluation import (
    ON_REASONS,
    CompiledFlag,
    FlagEvaluator,
    FlagSnapshot,
    Reason,
    explain,
)
from shared.flags.model import parse_flag


def flag(name: str = "videoCalls", **fields: Any) -> Any:
    return parse_flag(name, {"enabled": True, "rolloutPercent": 50, **fields})


def users(n: int = 400) -> list[str]:
    rng = random.Random(1)
    return [f"user-{rng.getrandbits(48):x}" for _ in range(n)]


def test_kill_switch_beats_allow_list_and_full_rollout() -> None:
    killed = flag(rolloutPercent=100, killSwitch=True, allowUsers=["vip"])
    assert explain("videoCalls", killed, "vip") is Reason.KILLED
    assert not CompiledFlag("videoCalls", killed)("vip")


def test_always_on_is_on_for_everyone() -> None:
    safety = parse_flag("panicTracking", {"enabled": True, "rolloutPercent": 100, "alwaysOn": True})
    compiled = CompiledFlag("panicTracking", safety)
    assert all(compiled(u) for u in users(50))
    assert explain("panicTracking", safety, "u") is Reason.ALWAYS_ON


def test_disabled_beats_allow_list() -> None:
    off = flag(enabled=False, allowUsers=["vip"])
    assert explain("videoCalls", off, "vip") is Reason.DISABLED
    assert not CompiledFlag("videoCalls", off)("vip")


def test_deny_beats_allow_and_allow_beats_bucket() -> None:
    f = flag(rolloutPercent=0.01, allowUsers=["both", "vip"], denyUsers=["both"])
    compiled = CompiledFlag("videoCalls", f)
    assert not compiled("both")
    assert compiled("vip")
    assert explain("videoCalls", f, "both") is Reason.DENIED
    assert explain("videoCalls", f, "vip") is Reason.ALLOWED


def test_bucket_decides_the_rest_with_the_flag_name_as_default_seed() -> None:
    f = flag(rolloutPercent=30)
    compiled = CompiledFlag("videoCalls", f)
    for user in users():
        expected = micro_percentile("videoCalls", user) <= 30_000_000
        assert compiled(user) is expected
        assert (explain("videoCalls", f, user) in ON_REASONS) is expected


def test_custom_seed_changes_the_population() -> None:
    a = CompiledFlag("videoCalls", flag())
    b = CompiledFlag("videoCalls", flag(seed="other-seed"))
    assert [a(u) for u in users()] != [b(u) for u in users()]


def test_rollout_is_monotone_in_percent() -> None:
    ids = users()
    low = {u for u in ids if CompiledFlag("events", flag("events", rolloutPercent=10))(u)}
    high = {u for u in ids if CompiledFlag("events", flag("events", rolloutPercent=40))(u)}
    assert low < high
    assert 0.25 < len(high) / len(ids) < 0.55  # about 40% of 400 ids


def test_compiled_matches_reference_on_repeat_calls() -> None:
    f = flag(rolloutPercent=50, allowUsers=["a"], denyUsers=["b"])
    compiled = CompiledFlag("videoCalls", f)
    for user in [*users(100), "a", "b"] * 2:  # second round is served from the memo
        assert compiled(user) is (explain("videoCalls", f, user) in ON_REASONS)


@pytest.mark.parametrize("bad", ["", "   ", "\t", "\ud800"])
def test_bad_user_ids_are_refused_on_every_path(bad: str) -> None:
    evaluator = FlagEvaluator(
        FlagSnapshot.from_docs([("videoCalls", {"enabled": False, "rolloutPercent": 0})])
    )
    with pytest.raises(InvalidUserId):
        evaluator.is_enabled("videoCalls", bad)  # constant flag: still refused
    with pytest.raises(InvalidUserId):
        evaluator.is_enabled("nope", bad)  # unknown flag: still refused


def test_unknown_flag_is_off_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    evaluator = FlagEvaluator(FlagSnapshot(flags={}))
    with caplog.at_level(logging.WARNING, logger="shared.flags.evaluation"):
        assert evaluator.is_enabled("ghost", "u1") is False
        assert evaluator.is_enabled("ghost", "u2") is False
    assert sum("ghost" in r.getMessage() for r in caplog.records) == 1


def test_unknown_safety_flag_defaults_on() -> None:
    assert FlagEvaluator(FlagSnapshot(flags={})).is_enabled("panicTracking", "u1") is True


def test_invalid_document_keeps_last_valid_value_or_safe_default() -> None:
    good = FlagSnapshot.from_docs([("videoCalls", {"enabled": True, "rolloutPercent": 100})])
    bad_doc = {"enabled": True, "rolloutPercent": 140}
    kept = FlagSnapshot.from_docs([("videoCalls", bad_doc)], previous=good)
    assert kept.flags["videoCalls"].rollout_percent == 100
    assert "rolloutPercent" in kept.problems["videoCalls"]
    fresh = FlagSnapshot.from_docs([("videoCalls", bad_doc), ("refundButtons", {"enabled": False})])
    assert not fresh.flags["videoCalls"].enabled  # plain flag: safe default is off
    assert fresh.flags["refundButtons"].always_on  # safety flag: safe default is on


def test_replacing_the_snapshot_takes_effect_on_the_next_call() -> None:
    on = FlagSnapshot.from_docs([("wallet", {"enabled": True, "rolloutPercent": 100})])
    killed = FlagSnapshot.from_docs(
        [("wallet", {"enabled": True, "rolloutPercent": 100, "killSwitch": True})]
    )
    evaluator = FlagEvaluator(on)
    assert evaluator.is_enabled("wallet", "u1")
    evaluator.replace(killed)
    assert not evaluator.is_enabled("wallet", "u1")


def test_evaluator_without_snapshot_is_not_ready() -> None:
    evaluator = FlagEvaluator()
    assert not evaluator.wait_ready(0)
    evaluator.replace(FlagSnapshot(flags={}))
    assert evaluator.wait_ready(0)
