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


# ---- the compiled fast paths (per call and batch) against the reference `explain` ----

SHAPES: list[dict[str, Any]] = [
    {"enabled": False, "rolloutPercent": 50, "allowUsers": ["vip"]},
    {"enabled": True, "rolloutPercent": 50, "killSwitch": True, "allowUsers": ["vip"]},
    {"enabled": True, "rolloutPercent": 0},
    {"enabled": True, "rolloutPercent": 0, "allowUsers": ["vip", "both"], "denyUsers": ["both"]},
    {"enabled": True, "rolloutPercent": 100},
    {"enabled": True, "rolloutPercent": 100, "allowUsers": ["vip"], "denyUsers": ["no", "both"]},
    {"enabled": True, "rolloutPercent": 0.01},
    {"enabled": True, "rolloutPercent": 12.34, "seed": "custom-seed_1.x"},
    {"enabled": True, "rolloutPercent": 50, "allowUsers": ["vip", "both"], "denyUsers": ["both"]},
    {"enabled": True, "rolloutPercent": 99.99, "denyUsers": ["no"]},
]
SPECIAL_USERS = ["vip", "both", "no", "é", "e\u0301", "日本語", "👩‍💻", " padded ", "x" * 256]


@pytest.mark.parametrize("doc", SHAPES, ids=lambda d: str(sorted(d.items()))[:70])
def test_compiled_paths_match_the_reference_for_every_flag_shape(doc: dict[str, Any]) -> None:
    f = parse_flag("videoCalls", doc)
    compiled = CompiledFlag("videoCalls", f)
    ids = [*users(300), *SPECIAL_USERS]
    expected = [explain("videoCalls", f, u) in ON_REASONS for u in ids]
    assert [compiled(u) for u in ids] == expected  # first sight
    assert [compiled(u) for u in ids] == expected  # memoised
    assert compiled.evaluate_many(ids) == expected
    assert compiled.evaluate_many(tuple(reversed(ids))) == expected[::-1]


def test_always_on_flag_paths_match_the_reference() -> None:
    doc = {"enabled": True, "rolloutPercent": 100, "alwaysOn": True}
    f = parse_flag("panicTracking", doc)
    compiled = CompiledFlag("panicTracking", f)
    assert compiled.evaluate_many(users(50)) == [True] * 50
    assert all(compiled(u) for u in users(50))


def test_memo_is_bounded_and_stays_correct_when_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.flags import evaluation

    monkeypatch.setattr(evaluation, "MEMO_MAX", 8)
    f = flag(rolloutPercent=40)
    compiled = CompiledFlag("videoCalls", f)
    ids = users(100)
    for _ in range(3):
        assert [compiled(u) for u in ids] == [
            explain("videoCalls", f, u) in ON_REASONS for u in ids
        ]


def test_evaluate_many_keeps_order_duplicates_and_takes_any_iterable() -> None:
    evaluator = FlagEvaluator(
        FlagSnapshot.from_docs([("events", {"enabled": True, "rolloutPercent": 50})])
    )
    ids = [*users(40), *users(40)[:5]]
    expected = [evaluator.is_enabled("events", u) for u in ids]
    assert evaluator.evaluate_many("events", ids) == expected
    assert evaluator.evaluate_many("events", iter(ids)) == expected
    assert evaluator.evaluate_many("events", []) == []


BAD_IDS: list[Any] = [
    "",
    "   ",
    "\t\n",
    "\u3000",
    "\ud800",
    "ok\udfffok",
    None,
    42,
    b"bytes",
    ["list"],
]


@pytest.mark.parametrize("doc", SHAPES, ids=lambda d: str(sorted(d.items()))[:70])
@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_bad_ids_are_refused_by_every_compiled_path(doc: dict[str, Any], bad: Any) -> None:
    compiled = CompiledFlag("videoCalls", parse_flag("videoCalls", doc))
    with pytest.raises(InvalidUserId):
        compiled(bad)
    with pytest.raises(InvalidUserId):
        compiled.evaluate_many(["fine-1", bad, "fine-2"])


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_bad_ids_are_refused_for_unknown_flags_in_batches(bad: Any) -> None:
    evaluator = FlagEvaluator(FlagSnapshot(flags={}))
    with pytest.raises(InvalidUserId):
        evaluator.evaluate_many("ghost", ["fine", bad])
    with pytest.raises(InvalidUserId):
        evaluator.is_enabled("ghost", bad)


def test_batch_refuses_the_first_bad_id_with_its_reason() -> None:
    compiled = CompiledFlag("videoCalls", flag())
    with pytest.raises(InvalidUserId, match="surrogate"):
        compiled.evaluate_many(["a", "\ud800", " "])
    with pytest.raises(InvalidUserId, match="blank"):
        compiled.evaluate_many(["a", " ", "\ud800"])
    with pytest.raises(InvalidUserId, match="string"):
        compiled.evaluate_many(["a", 7, " "])  # type: ignore[list-item]


def test_a_str_subclass_is_bucketed_like_the_plain_string() -> None:
    class Uid(str):
        __slots__ = ()

    f = flag(rolloutPercent=50)
    compiled = CompiledFlag("videoCalls", f)
    for u in users(50):
        assert compiled(Uid(u)) is compiled(u)
        assert compiled.evaluate_many([Uid(u)]) == [compiled(u)]


def test_unknown_flag_in_a_batch_uses_the_default_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    evaluator = FlagEvaluator(FlagSnapshot(flags={}))
    with caplog.at_level(logging.WARNING, logger="shared.flags.evaluation"):
        assert evaluator.evaluate_many("ghost", ["u1", "u2"]) == [False, False]
        assert evaluator.evaluate_many("panicTracking", ["u1", "u2"]) == [True, True]
        assert evaluator.is_enabled("ghost", "u3") is False
    assert sum("ghost" in r.getMessage() for r in caplog.records) == 1


def test_runtime_calls_use_the_installed_evaluator() -> None:
    from shared.flags.runtime import evaluate_many, install, is_feature_enabled_for_user

    docs = [("events", {"enabled": True, "rolloutPercent": 30, "denyUsers": ["no"]})]
    evaluator = FlagEvaluator(FlagSnapshot.from_docs(docs))
    install(evaluator)
    try:
        ids = [*users(100), "no"]
        expected = [evaluator.is_enabled("events", u) for u in ids]
        assert [is_feature_enabled_for_user("events", u) for u in ids] == expected
        assert evaluate_many("events", ids) == expected
        assert is_feature_enabled_for_user("ghost", "u1") is False
        assert evaluate_many("panicTracking", ["u1"]) == [True]
        with pytest.raises(InvalidUserId):
            is_feature_enabled_for_user("events", ["unhashable"])  # type: ignore[arg-type]
        evaluator.replace(
            FlagSnapshot.from_docs([("events", {"enabled": False, "rolloutPercent": 30})])
        )
        assert evaluate_many("events", ids) == [False] * len(ids)
        assert not any(is_feature_enabled_for_user("events", u) for u in ids)
    finally:
        install(None)
