"""Bucketing vectors (`tests/vectors/flag_buckets.json`) and the Remote Config oracle.

The vectors are checked against our implementation *and* against firebase-admin's own
server-template evaluation, so a wrong vector file cannot pass. Regenerate with
`python -m tests.unit.test_flags_vectors` (only when adding cases).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.flags.bucketing import (
    InvalidUserId,
    in_rollout,
    micro_percentile,
    micro_percentile_from,
    percent_to_micro,
    seed_state,
    user_id_bytes,
)
from shared.flags.evaluation import CompiledFlag
from shared.flags.model import parse_flag

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "flag_buckets.json"
PERCENTS = [0, 0.01, 1, 10, 12.34, 33.33, 50, 99.99, 100]


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def oracle() -> Iterator[Any]:
    """firebase-admin's Remote Config server template, offline (no network, no credentials)."""
    import firebase_admin
    from firebase_admin import credentials, remote_config
    from google.auth.credentials import AnonymousCredentials

    class _Anonymous(credentials.Base):  # type: ignore[misc]
        def get_credential(self) -> Any:
            return AnonymousCredentials()

    app = firebase_admin.initialize_app(
        _Anonymous(), options={"projectId": "demo-flags"}, name="flags-oracle"
    )
    template = remote_config.init_server_template(
        app=app, template_data_json=json.dumps({"conditions": [], "parameters": {}})
    )
    yield template
    firebase_admin.delete_app(app)


def rc_evaluate(
    template: Any, seed: str, user: str, conditions: dict[str, dict[str, Any]]
) -> dict[str, bool]:
    """Each named percent condition, evaluated by Remote Config for `user`."""
    template.set(
        json.dumps(
            {
                "conditions": [
                    {"name": n, "condition": {"percent": {"seed": seed, **c}}}
                    for n, c in conditions.items()
                ],
                "parameters": {
                    n: {
                        "defaultValue": {"value": "false"},
                        "conditionalValues": {n: {"value": "true"}},
                    }
                    for n in conditions
                },
            }
        )
    )
    config = template.evaluate({"randomization_id": user})
    return {n: config.get_boolean(n) for n in conditions}


def exact_percentile_conditions(micro: int) -> dict[str, dict[str, Any]]:
    """RC conditions true iff the user's micro-percentile is exactly `micro`."""
    return {
        "between": {
            "percentOperator": "BETWEEN",
            "microPercentRange": {
                "microPercentLowerBound": micro - 1,
                "microPercentUpperBound": micro,
            },
        },
        "le": {"percentOperator": "LESS_OR_EQUAL", "microPercent": micro},
    }


def test_vector_file_is_big_and_covers_the_edges() -> None:
    data = load()
    cases, errors = data["cases"], data["errors"]
    assert len(cases) + len(errors) >= 200
    users = [c["userId"] for c in cases]
    assert any(not u.isascii() for u in users)
    assert any(len(u.encode()) != len(u) for u in users)  # multi-byte UTF-8
    checked = {float(p) for c in cases for p in c["checks"]}
    assert {0.0, 100.0} <= checked
    assert any(
        c["checks"].get(_fmt(c["microPercentile"] / 1e6)) is True for c in cases
    )  # on a boundary
    assert {"", " "} <= {e["userId"] for e in errors}


@pytest.mark.parametrize("case", load()["cases"], ids=lambda c: f"{c['seed']}:{c['userId']!r}"[:60])
def test_vectors_match_our_bucketing(case: dict[str, Any]) -> None:
    micro = micro_percentile(case["seed"], case["userId"])
    assert micro == case["microPercentile"]
    for percent, expected in case["checks"].items():
        assert in_rollout(micro, percent_to_micro(float(percent))) is expected, percent


@pytest.mark.parametrize("case", load()["errors"], ids=lambda c: repr(c["userId"]))
def test_vectors_refuse_bad_ids(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidUserId):
        user_id_bytes(case["userId"])


def test_vectors_match_remote_config(oracle: Any) -> None:
    for case in load()["cases"]:
        got = rc_evaluate(
            oracle,
            case["seed"],
            case["userId"],
            exact_percentile_conditions(case["microPercentile"]),
        )
        assert got == {"between": True, "le": True}, case
        below = {
            "le": {"percentOperator": "LESS_OR_EQUAL", "microPercent": case["microPercentile"] - 1}
        }
        if case["microPercentile"] > 0:
            assert rc_evaluate(oracle, case["seed"], case["userId"], below) == {"le": False}


def random_ids(rng: random.Random, n: int) -> list[str]:
    alphabets = [
        "abcdefghijklmnopqrstuvwxyz0123456789-_",
        "ÀÉÎÕÜßçñøåæœ",
        "日本語中文한국어",
        "😀🎉🚀👩‍💻",
        "אבגדעربيةабвгд",
    ]
    out = []
    for _ in range(n):
        chars = "".join(rng.choice(alphabets[: rng.randint(1, len(alphabets))]))
        out.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 40))).strip() or "x")
    return out


def test_bucketing_agrees_with_remote_config_on_10000_random_ids(oracle: Any) -> None:
    rng = random.Random(20261125)
    percents = {"p1": 1.0, "p10": 10.0, "p33": 33.33, "p50": 50.0, "p99": 99.99, "p100": 100.0}
    conditions = {
        n: {"percentOperator": "LESS_OR_EQUAL", "microPercent": percent_to_micro(p)}
        for n, p in percents.items()
    }
    mismatches = []
    for i, user in enumerate(random_ids(rng, 10_000)):
        seed = ["videoCalls", "events", "aiCompanions", "s-1_x.y"][i % 4]
        micro = micro_percentile(seed, user)
        ours = {n: in_rollout(micro, percent_to_micro(p)) for n, p in percents.items()}
        if ours != rc_evaluate(oracle, seed, user, conditions):
            mismatches.append((seed, user))
    assert mismatches == []


def test_fast_path_equals_the_reference_on_vectors_and_random_ids() -> None:
    """The evaluator hashes `seed + "."` once per flag and copies that SHA-256 state per user:
    bit-exact with hashing the whole string (vectors, and 20,000 random ids in any order)."""
    cases = [(c["seed"], c["userId"]) for c in load()["cases"]]
    rng = random.Random(7)
    seeds = ["videoCalls", "events", "aiCompanions", "abc", "s-1_x.y", "Z" * 32]
    cases += [(seeds[i % len(seeds)], u) for i, u in enumerate(random_ids(rng, 20_000))]
    rng.shuffle(cases)
    states = {seed: seed_state(seed) for seed in seeds}  # reused: a copy never changes them
    for seed, user in cases:
        assert micro_percentile_from(states[seed], user_id_bytes(user)) == micro_percentile(
            seed, user
        ), (seed, user)
    for case in load()["cases"]:
        assert (
            micro_percentile_from(states[case["seed"]], case["userId"].encode())
            == (case["microPercentile"])
        )


def test_compiled_flags_match_every_vector_check() -> None:
    """Per call (first sight and memoised) and in a batch, at every percent each vector checks."""
    by_flag: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for case in load()["cases"]:
        for percent, expected in case["checks"].items():
            by_flag.setdefault((case["seed"], percent), []).append((case["userId"], expected))
    for (seed, percent), checks in by_flag.items():
        doc = {"enabled": True, "rolloutPercent": float(percent), "seed": seed}
        compiled = CompiledFlag("someFlag", parse_flag("someFlag", doc))
        ids = [u for u, _ in checks]
        expected = [e for _, e in checks]
        assert [compiled(u) for u in ids] == expected, (seed, percent)
        assert [compiled(u) for u in ids] == expected, (seed, percent)
        assert compiled.evaluate_many(ids) == expected, (seed, percent)


def test_compiled_flags_agree_with_remote_config_on_random_ids(oracle: Any) -> None:
    rng = random.Random(99)
    ids = random_ids(rng, 2_000)
    for seed, percent in [("videoCalls", 10.0), ("events", 33.33), ("s-1_x.y", 0.01)]:
        doc = {"enabled": True, "rolloutPercent": percent, "seed": seed}
        compiled = CompiledFlag("someFlag", parse_flag("someFlag", doc))
        cond = {
            "c": {"percentOperator": "LESS_OR_EQUAL", "microPercent": percent_to_micro(percent)}
        }
        expected = [rc_evaluate(oracle, seed, u, cond)["c"] for u in ids]
        assert [compiled(u) for u in ids] == expected
        assert compiled.evaluate_many(ids) == expected


def test_known_remote_config_value() -> None:
    # Verified independently with firebase-admin (reference notes): seed abc, user-1.
    assert micro_percentile("abc", "user-1") == 59_749_571


def test_zero_percent_is_nobody_and_hundred_is_everybody() -> None:
    assert not in_rollout(0, 0)  # the one deliberate deviation from RC's `<=`
    assert in_rollout(0, percent_to_micro(100))
    assert in_rollout(99_999_999, percent_to_micro(100))
    assert not in_rollout(10_000_001, percent_to_micro(10))
    assert in_rollout(10_000_000, percent_to_micro(10))


def _fmt(percent: float) -> str:
    return f"{percent:.2f}".rstrip("0").rstrip(".")


# ---- generation (run as a module to rewrite the vector file) ----

BLANK = ["", " ", "\t", "\n", " \t\r\n ", "\u3000", "\u00a0", "\u2028", "\x1c"]


def _boundary_ids(seed: str, rng: random.Random, want: int) -> list[str]:
    found = []
    while len(found) < want:
        user = f"b{rng.getrandbits(40):x}"
        if micro_percentile(seed, user) % 10_000 == 0:
            found.append(user)
    return found


def generate() -> dict[str, Any]:
    rng = random.Random(6)
    seeds = ["videoCalls", "events", "aiCompanions", "abc", "s-1_x.y", "Z" * 32]
    fixed = [
        "user-1",
        "0",
        "42",
        "alice@example.com",
        " padded ",
        "é",
        "e\u0301",
        "日本語ユーザー",
        "👩‍💻",
        "😀" * 10,
        "עברית",
        "العربية",
        "x" * 256,
        "\u200b",
        "null",
        "undefined",
    ]
    cases = []
    for i in range(200):
        seed = seeds[i % len(seeds)]
        user = fixed[i] if i < len(fixed) else random_ids(rng, 1)[0]
        cases.append(_case(seed, user))
    for seed in seeds[:3]:
        cases += [_case(seed, u) for u in _boundary_ids(seed, rng, 2)]
    errors = [{"userId": u, "error": "blank"} for u in BLANK]
    errors.append({"userId": "\ud800", "error": "lone surrogate"})
    return {
        "description": (
            "Firebase Remote Config percent bucketing: micro = int(sha256(utf8(seed + '.' + "
            "userId))) mod 1e8; in iff percent > 0 and micro <= round(percent * 1e6)"
        ),
        "blankIsPythonIsspace": True,
        "cases": cases,
        "errors": errors,
    }


def _case(seed: str, user: str) -> dict[str, Any]:
    micro = micro_percentile(seed, user)
    percents = [*PERCENTS]
    edge = micro // 10_000 / 100  # the two-decimal percent at or just below the user's bucket
    percents += [edge, round(edge + 0.01, 2)] if edge + 0.01 <= 100 else [edge]
    checks = {_fmt(p): in_rollout(micro, percent_to_micro(p)) for p in percents}
    return {"seed": seed, "userId": user, "microPercentile": micro, "checks": checks}


if __name__ == "__main__":
    VECTORS.write_text(json.dumps(generate(), indent=1) + "\n", encoding="utf-8")
