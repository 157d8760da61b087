"""Feature-flag benchmark (issue 6): prints figures, asserts nothing.

1. Evaluations per second of `is_feature_enabled_for_user` vs firebase-admin's
   `ServerTemplate.evaluate` for the same Remote Config percent condition (seed, 10%), measured
   in the same run, in interleaved rounds (median and range printed):
   - repeat users: 10,000 users asked over and over (an app asks about its active users; our
     per-user memo answers),
   - new users: every call a never-seen id (no memo can help: one SHA-256 per call),
   - batch: `evaluate_many(flag, ids)` on new ids, 1,000 per call (the CLI's `flags eval FLAG
     USER...`, batch jobs). firebase-admin has no batch API: its baseline is its per-call rate
     on new users from the same round.
   Both sides are called directly in the timed loop (no wrapper). Each round also checks that
   both give the same decisions (all repeat answers, a sample of the new and batch ones).
   The floor line is the bare hash, `int.from_bytes(sha256((seed + "." + id).encode()).digest(),
   "big") % 10**8`, in the same loop on new ids: no per-call API can beat it.
2. Kill-switch propagation on the Firestore emulator: the CLI's write path
   (`FirestoreFlagStore.change`) sets or lifts the kill switch; a listening evaluator
   (`FlagListener`, Firestore `on_snapshot`) is polled until it flips. Median of 20.

Run: .venv/bin/python benchmarks/flag_eval.py [--no-emulator] [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

from shared.flags import edits
from shared.flags.evaluation import FlagEvaluator, FlagSnapshot
from shared.flags.runtime import evaluate_many, install, is_feature_enabled_for_user

SEED, PERCENT = "videoCalls", 10.0
REPEAT_USERS = 10_000
CALLS = 200_000  # ours, per row and round
RC_CALLS = 50_000  # firebase-admin is ~10x slower: fewer calls, same timing resolution
BATCH = 1_000
PROPAGATION_RUNS = 20

_fresh = count()


def fresh_ids(n: int) -> list[str]:
    """`n` ids never used before in this process (same shape as the repeat ids)."""
    first = next(_fresh)
    for _ in range(n - 1):
        next(_fresh)
    return [f"fresh-{i}" for i in range(first, first + n)]


def rc_template() -> Any:
    import firebase_admin
    from firebase_admin import credentials, remote_config
    from google.auth.credentials import AnonymousCredentials

    class _Anonymous(credentials.Base):  # type: ignore[misc]
        def get_credential(self) -> Any:
            return AnonymousCredentials()

    app = firebase_admin.initialize_app(_Anonymous(), {"projectId": "demo-bench"}, name="bench")
    template = {
        "conditions": [
            {
                "name": "rollout",
                "condition": {
                    "percent": {
                        "seed": SEED,
                        "percentOperator": "LESS_OR_EQUAL",
                        "microPercent": int(PERCENT * 1_000_000),
                    }
                },
            }
        ],
        "parameters": {
            SEED: {
                "defaultValue": {"value": "false"},
                "conditionalValues": {"rollout": {"value": "true"}},
            }
        },
    }
    return remote_config.init_server_template(app=app, template_data_json=json.dumps(template))


def timed(loop: Callable[[list[str]], list[Any]], ids: list[str]) -> tuple[float, list[Any]]:
    """Calls per second of `loop` over `ids`, and its answers."""
    gc.collect()
    start = time.perf_counter()
    answers = loop(ids)
    return len(ids) / (time.perf_counter() - start), answers


def throughput(rounds: int) -> None:
    install(
        FlagEvaluator(
            FlagSnapshot.from_docs([(SEED, {"enabled": True, "rolloutPercent": PERCENT})])
        )
    )
    template = rc_template()

    # The timed loops: each side's public call, inline, answers kept for the agreement check.
    def ours(ids: list[str]) -> list[bool]:
        return [is_feature_enabled_for_user(SEED, uid) for uid in ids]

    def firebase(ids: list[str]) -> list[bool]:
        return [template.evaluate({"randomization_id": uid}).get_boolean(SEED) for uid in ids]

    def ours_batch(ids: list[str]) -> list[bool]:
        out: list[bool] = []
        for i in range(0, len(ids), BATCH):
            out += evaluate_many(SEED, ids[i : i + BATCH])
        return out

    prefix = SEED + "."

    def floor(ids: list[str]) -> list[int]:
        return [
            int.from_bytes(hashlib.sha256((prefix + uid).encode()).digest(), "big") % 100_000_000
            for uid in ids
        ]

    users = [f"user-{i}" for i in range(REPEAT_USERS)]
    repeat = users * (CALLS // REPEAT_USERS)
    rc_repeat = users * (RC_CALLS // REPEAT_USERS)
    ours(users)  # warm-up: first sight of each repeat user
    rates: dict[str, list[float]] = {}
    mismatches = checked = 0
    for _ in range(rounds):
        new_ids, batch_ids, rc_ids = fresh_ids(CALLS), fresh_ids(CALLS), fresh_ids(RC_CALLS)
        row = {
            "ours repeat": timed(ours, repeat),
            "rc repeat": timed(firebase, rc_repeat),
            "ours new": timed(ours, new_ids),
            "rc new": timed(firebase, rc_ids),
            "ours batch": timed(ours_batch, batch_ids),
            "floor": timed(floor, fresh_ids(CALLS)),
        }
        for name, (rate, _answers) in row.items():
            rates.setdefault(name, []).append(rate)
        # Same decisions: firebase-admin re-evaluates a sample of the ids we answered.
        for ids, answers in ((new_ids, row["ours new"][1]), (batch_ids, row["ours batch"][1])):
            sample = slice(0, len(ids), 97)
            rc_answers = firebase(ids[sample])
            mismatches += sum(a != b for a, b in zip(answers[sample], rc_answers, strict=True))
            checked += len(rc_answers)
        ours_users, rc_users = row["ours repeat"][1], row["rc repeat"][1]
        mismatches += sum(a != b for a, b in zip(ours_users, rc_users, strict=False))
        checked += min(len(ours_users), len(rc_users))

    def med(name: str) -> float:
        return statistics.median(rates[name])

    def span(name: str) -> str:
        return f"{min(rates[name]) / 1e6:.2f}-{max(rates[name]) / 1e6:.2f} M/s"

    def ratios(ours_row: str, rc_row: str) -> list[float]:
        return [o / r for o, r in zip(rates[ours_row], rates[rc_row], strict=True)]

    print(
        f"evaluations/s, percent condition seed={SEED!r} at {PERCENT}%: median of {rounds} "
        "interleaved rounds (range)"
    )
    rows = [
        ("repeat users", "ours repeat", "rc repeat"),
        ("new users", "ours new", "rc new"),
        (f"batch of {BATCH:,} new", "ours batch", "rc new"),
    ]
    for label, ours_row, rc_row in rows:
        rs = ratios(ours_row, rc_row)
        print(
            f"  {label:18s} ours {med(ours_row) / 1e6:5.2f} M/s ({span(ours_row)})   "
            f"firebase-admin {med(rc_row) / 1e6:5.2f} M/s ({span(rc_row)})   "
            f"ratio {statistics.median(rs):5.1f}x ({min(rs):.1f}-{max(rs):.1f})"
        )
    print("  (batch: our evaluate_many vs firebase-admin's per-call evaluate; it has no batch API)")
    floor_ns = 1e9 / med("floor")
    print(
        f"  floor: bare sha256 + int.from_bytes + mod 10^8 per new id: {floor_ns:.0f} ns = "
        f"{med('floor') / 1e6:.2f} M/s ({med('floor') / med('rc new'):.1f}x firebase-admin)"
    )
    print(f"  same decisions as firebase-admin: {checked - mismatches:,}/{checked:,} sampled ids")


def propagation() -> None:
    from google.cloud import firestore

    from shared.flags.runtime import FlagListener
    from shared.flags.store import FirestoreFlagStore
    from shared.local import emulators

    project = "demo-avalo-dev"
    with tempfile.TemporaryDirectory() as logs:
        emulator = emulators.start_firestore(Path(logs))
        try:
            os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host_port
            db = firestore.Client(project=project)
            db.collection("featureFlags").document("wallet").set(
                {"enabled": True, "rolloutPercent": 100}
            )
            evaluator = FlagEvaluator()
            listener = FlagListener(db, evaluator)
            assert evaluator.wait_ready(30), "no first snapshot"
            store = FirestoreFlagStore(db)
            from_call, from_commit = [], []
            for i in range(PROPAGATION_RUNS):
                killed = i % 2 == 0
                edit = edits.kill("wallet") if killed else edits.unkill("wallet")
                t0 = time.perf_counter()
                store.change("wallet", edit, "bench", datetime.now(UTC))
                t1 = time.perf_counter()
                while evaluator.is_enabled("wallet", "user-1") == killed:
                    time.sleep(0.0005)
                t2 = time.perf_counter()
                from_call.append(t2 - t0)
                from_commit.append(t2 - t1)
            listener.stop()
            db.close()
        finally:
            emulator.stop()
    ms = [x * 1000 for x in from_call]
    print(
        "kill-switch propagation (Firestore emulator, on_snapshot listener), "
        f"{PROPAGATION_RUNS} runs"
    )
    print(
        f"  write call -> evaluator flips: median {statistics.median(ms):.1f} ms, "
        f"p90 {statistics.quantiles(ms, n=10)[-1]:.1f} ms, max {max(ms):.1f} ms"
    )
    # The listener often fires before the commit's own response is back: then this is ~0.
    print(f"  commit returned -> flips:      median {statistics.median(from_commit) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-emulator", action="store_true", help="skip the propagation part")
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds (median)")
    args = parser.parse_args()
    throughput(args.rounds)
    if not args.no_emulator:
        propagation()


if __name__ == "__main__":
    main()
