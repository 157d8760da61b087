"""Release latency on the local stack: push → staging live, and rollback command → previous
version serving, each the median of N runs, with the share of that time spent inside our
handlers (the `delivered` log lines' elapsed_ms, summed over the function servers) against
waiting on builds, ticks and delivery.

    .venv/bin/python benchmarks/local_release.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.adapters import firestore_views as views
from shared.approvals.local_users import seed_demo_users, users_file
from shared.cli import context
from shared.local.driving import CI_CONFIG, push, send_command, wait_build
from shared.local.sample_app import serving
from shared.local.stack import Options, down, up
from shared.local.state import StackState

SKIP = ["secret-scan", "typecheck", "unit-tests"]


def handler_ms(stack: StackState, since: datetime, until: datetime) -> float:
    """Time spent inside handlers between two instants, from the servers' JSON logs."""
    total = 0.0
    for log in (stack.local_dir / "logs").glob("on_*.log"):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"elapsed_ms"' not in line:
                continue
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["time"])
            if since <= at <= until:
                total += float(entry["elapsed_ms"])
    return total


def until(check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.05)


def state(release: str, env: str) -> str | None:
    rollout = views.read_rollout(context.db(), release, env)
    return rollout.state if rollout else None


def push_to_live(stack: StackState) -> tuple[float, float, str]:
    commit = secrets.token_hex(20)  # a new commit each run: a new release (working-tree build)
    release = f"0.0.0-main.{commit[:7]}"
    started, t0 = datetime.now(UTC), time.perf_counter()
    build = push(stack, context.settings().project, "main", commit, CI_CONFIG, SKIP)
    if wait_build(stack, build, 300) != "SUCCESS":
        raise SystemExit("CI failed")
    until(lambda: state(release, "staging") == "live")
    elapsed = time.perf_counter() - t0
    return elapsed, handler_ms(stack, started, datetime.now(UTC)) / 1000, release


def rollback(stack: StackState, live: str, previous: str) -> tuple[float, float, float]:
    """(previous version serving, rollback recorded, inside handlers), in seconds. The app
    switches while the handler still runs (it checks the switch, then records `rolled_back`),
    so the handlers' share is taken over the whole command, up to `rolled_back`."""
    started, t0 = datetime.now(UTC), time.perf_counter()
    # sent as releasectl sends it, by the stack's local operator
    send_command(type="release.rollback", env="staging", reason="bench", actor="demo-operator")
    until(lambda: serving(stack.apps["staging"].url) == previous)
    serving_s = time.perf_counter() - t0
    until(lambda: state(live, "staging") == "rolled_back")
    recorded_s = time.perf_counter() - t0
    return serving_s, recorded_s, handler_ms(stack, started, datetime.now(UTC)) / 1000


def report(name: str, rows: list[tuple[float, float]]) -> None:
    total = statistics.median(r[0] for r in rows)
    inside = statistics.median(r[1] for r in rows)
    print(
        f"{name:34} {total:7.2f} s   handlers {inside:5.2f} s ({inside / total:5.1%})   "
        f"waiting {total - inside:5.2f} s   runs: {', '.join(f'{r[0]:.2f}' for r in rows)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tick", type=float, default=1.0, help="monitoring tick period (s)")
    args = parser.parse_args()
    runs = args.runs
    local_dir = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    stack = up(
        Options(local_dir=local_dir, bake_minutes=0, tick_seconds=1.0, seed=False),
        say=lambda m: None,
    )
    os.environ.update(stack.environment())
    seed_demo_users(users_file(context.settings()))  # the rollback's sender: demo-operator
    pushes: list[tuple[float, float]] = []
    rollbacks: list[tuple[float, float, float]] = []
    try:
        _, _, previous = push_to_live(stack)  # something to roll back to
        for _ in range(runs):
            elapsed, inside, live = push_to_live(stack)
            pushes.append((elapsed, inside))
            rollbacks.append(rollback(stack, live, previous))
    finally:
        down(local_dir, say=lambda m: None)
    print(f"local stack, tick {args.tick:g} s, bake 0 min, CI = lint only; median of {runs}\n")
    report("push → staging live", pushes)
    serving_s = statistics.median(r[0] for r in rollbacks)
    print(
        f"{'rollback → previous serving':34} {serving_s:7.2f} s   runs: "
        f"{', '.join(f'{r[0]:.2f}' for r in rollbacks)}"
    )
    report("rollback → rolled_back recorded", [(r[1], r[2]) for r in rollbacks])


if __name__ == "__main__":
    main()
