"""What a kill switch costs as a signed command, against the direct write it replaced.

Measures, in the same run on one Firestore emulator, interleaved, the time from the call until
a listening evaluator (Firestore `on_snapshot`, as the app's backend holds one) sees the flag
flip:
- baseline: `FirestoreFlagStore.change` called directly (what `releasectl flags kill` did before
  it sent commands);
- the command: a signed `flags.kill` / `flags.unkill` handed to the message bus in-process
  (emulator ID token verified, `flags` role checked, the control project's transaction with the
  operation record and outbox, the flag store's transaction as the verified sender, the
  result's transaction). Pub/Sub's push to the function is not included (it is the same for
  every command; on the local stack it adds the emulator's push delay).

    .venv/bin/python benchmarks/flag_commands.py [--runs 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CONTROL, ENV_PROJECT = "demo-bench-control", "demo-bench-dev"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    import os

    from google.cloud import firestore

    from benchmarks._emulator import firestore_emulator
    from shared.adapters.firestore_store import FirestoreUnitOfWork
    from shared.approvals.credentials import emulator_token
    from shared.approvals.handler import SignedCommands
    from shared.approvals.tokens import EMULATOR_ENV, FirebaseTokenVerifier
    from shared.config import ControlConfig, EnvConfig, PlaneConfig
    from shared.domain.commands import parse_command
    from shared.flags import edits
    from shared.flags.changes import FlagChanges
    from shared.flags.evaluation import FlagEvaluator
    from shared.flags.runtime import FlagListener
    from shared.flags.store import FirestoreFlagStore
    from shared.service.messagebus import MessageBus
    from tests.unit.fakes import FakeClock, fake_ports

    os.environ[EMULATOR_ENV] = "127.0.0.1:9099"  # firebase-admin checks emulator tokens offline
    with firestore_emulator():
        env_db = firestore.Client(project=ENV_PROJECT)
        env_db.document("featureFlags/wallet").set({"enabled": True, "rolloutPercent": 100})
        store = FirestoreFlagStore(env_db)
        plane = PlaneConfig(
            control=ControlConfig(project=CONTROL, signed_commands=True),
            environments={"dev": EnvConfig(name="dev", project=ENV_PROJECT)},
        )
        ports = fake_ports(plane)
        ports.approvals = SignedCommands(lambda: FirebaseTokenVerifier(CONTROL), plane=plane)
        ports.flag_changes = FlagChanges(lambda project: store)
        uow = FirestoreUnitOfWork(firestore.Client(project=CONTROL))
        bus = MessageBus(uow=uow, plane=plane, clock=FakeClock(), ports=ports)
        token = emulator_token(CONTROL, "fay", datetime.now(UTC), roles=["flags"])
        evaluator = FlagEvaluator()
        listener = FlagListener(env_db, evaluator)
        assert evaluator.wait_ready(30), "no first snapshot"
        count = iter(range(10**6))

        def direct(kill: bool) -> None:
            edit = edits.kill("wallet") if kill else edits.unkill("wallet")
            store.change("wallet", edit, "fay", datetime.now(UTC))

        def command(kill: bool) -> None:
            body = {"type": "flags.kill" if kill else "flags.unkill", "env": "dev"}
            body |= {"flag": "wallet", "actor": "fay", "id_token": token}
            cmd = parse_command(json.dumps(body).encode())
            done = bus.handle(cmd, event_id=f"k-{next(count)}", topic="release-commands")
            assert done.outcome == "applied", done.note

        def flip(send: Callable[[bool], None], kill: bool) -> float:
            start = time.perf_counter()
            send(kill)
            while evaluator.is_enabled("wallet", "user-1") == kill:
                time.sleep(0.0005)
            return time.perf_counter() - start

        kill = True
        for _ in range(6):  # warm up: clients, channels, the verifier
            for send in (direct, command):
                flip(send, kill)
                kill = not kill
        times: dict[str, list[float]] = {"direct": [], "command": []}
        for i in range(args.runs):  # interleaved, alternating who goes first
            order = (("direct", direct), ("command", command))
            for name, send in order if i % 2 == 0 else order[::-1]:
                times[name].append(flip(send, kill))
                kill = not kill
        listener.stop()
    base, cmd = (sorted(x * 1000 for x in times[k]) for k in ("direct", "command"))
    b, c = statistics.median(base), statistics.median(cmd)
    print(f"kill switch -> listening evaluator flips, Firestore emulator, {args.runs} runs each")
    print(f"  direct FlagStore.change: median {b:.1f} ms, p90 {base[int(len(base) * 0.9)]:.1f} ms")
    print(f"  signed flags.kill (bus): median {c:.1f} ms, p90 {cmd[int(len(cmd) * 0.9)]:.1f} ms")
    print(f"  added by the command path: {c - b:.1f} ms ({c / b:.2f}x)")


if __name__ == "__main__":
    main()
