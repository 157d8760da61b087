"""Feature-flag benchmark (issue 6): prints figures, asserts nothing.

1. Evaluations per second of `is_feature_enabled_for_user` vs firebase-admin's
   `ServerTemplate.evaluate` for the same percent condition (seed, 10%), in the same run:
   - repeat users: 10,000 users asked over and over (an app asks about its active users),
   - distinct users: every call a new id (no memo can help; the hashing floor).
2. Kill-switch propagation on the Firestore emulator: the CLI's write path
   (`FirestoreFlagStore.change`) sets or lifts the kill switch; a listening evaluator
   (`FlagListener`, Firestore `on_snapshot`) is polled until it flips. Median of 20.

Run: .venv/bin/python benchmarks/flag_eval.py [--no-emulator]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.flags import edits
from shared.flags.evaluation import FlagEvaluator, FlagSnapshot
from shared.flags.runtime import install, is_feature_enabled_for_user

SEED, PERCENT = "videoCalls", 10.0
REPEAT_USERS = 10_000
CALLS = 200_000
PROPAGATION_RUNS = 20


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


def rate(fn: Callable[[str], bool], ids: list[str], calls: int) -> tuple[float, int]:
    n = len(ids)
    start = time.perf_counter()
    on = 0
    for i in range(calls):
        on += fn(ids[i % n])
    return calls / (time.perf_counter() - start), on


def throughput() -> None:
    install(
        FlagEvaluator(
            FlagSnapshot.from_docs([(SEED, {"enabled": True, "rolloutPercent": PERCENT})])
        )
    )
    template = rc_template()

    def ours(uid: str) -> bool:
        return is_feature_enabled_for_user(SEED, uid)

    def firebase(uid: str) -> bool:
        return bool(template.evaluate({"randomization_id": uid}).get_boolean(SEED))

    repeat = [f"user-{i}" for i in range(REPEAT_USERS)]
    distinct_ours = [f"fresh-a-{i}" for i in range(CALLS)]
    distinct_rc = [f"fresh-b-{i}" for i in range(CALLS // 4)]
    rate(ours, repeat, REPEAT_USERS)  # warm-up: first sight of each user
    rows = [
        ("repeat users", rate(ours, repeat, CALLS), rate(firebase, repeat, CALLS // 4)),
        (
            "distinct users",
            rate(ours, distinct_ours, CALLS),
            rate(firebase, distinct_rc, CALLS // 4),
        ),
    ]
    print(f"evaluations/s, percent condition seed={SEED!r} at {PERCENT}%")
    for name, (ours_rate, ours_on), (rc_rate, rc_on) in rows:
        print(
            f"  {name:15s} ours {ours_rate:12,.0f}/s   firebase-admin {rc_rate:10,.0f}/s   "
            f"ratio {ours_rate / rc_rate:5.1f}x   "
            f"(on: {ours_on / CALLS:.1%} vs {rc_on / (CALLS // 4):.1%})"
        )


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
    args = parser.parse_args()
    throughput()
    if not args.no_emulator:
        propagation()


if __name__ == "__main__":
    main()
