"""Rollback latency on the local stack (issue 5): the time from the first breaching metrics batch
published on `app-metrics` to the previous version serving again, median of N runs, split into

  detection  batch published → the `BakeVerdict` moves the rollout to `rolling_back` (the
             metrics function judges the env as soon as it stores the batch; the tick is
             only the backstop)
             (the rollout's `stateSince`, the same instant as the history entry's `at`)
  decision   → the restore effect starts: the deploy target writes the sample app's state file
             (its mtime): the verdict's commit, then its outbox (the `release-events` publish
             runs before the restore)
  restore    → `GET /health` of the dev sample app reports the previous release (polled here)

Set-up: dev with `bake_minutes = 10` (a bake does not end by itself while we measure) and
`consecutive_breaches = 1` (a 1-window confirmation), dev's 5-second windows with
`judge_open_window` (config/checks.toml), a monitoring tick every `--tick` seconds (1 by
default; `--tick 60` is Cloud Scheduler's minimum: detection must not wait for it).

The release a rollback restores is **seeded, not rolled out**: a release only becomes an
environment's `current` at the end of its bake (10 minutes here), so the warm-up release is
written into the control project as `live` in dev (release, rollout, history, `environments/dev`)
and the dev sample app is switched to it. Only the rollback is measured.

Each run: `release.create` + `release.promote` of a release with `sample-app.mode = errors`
(dev's smoke test checks `/health` only, so it reaches `baking`), wait for the first 5-second
window that starts inside the bake (earlier windows are not the bake's) and a random part of it
(so the publish moment is not locked to one phase of the 1-second ticker), publish one batch with
function errors and payment failures far above dev's thresholds, and time it. dev's monitored
metrics (function error rate, payment failure rate) compare with fixed thresholds, not with a
baseline, so no baseline batches are needed.

    .venv/bin/python benchmarks/rollback_latency.py [--runs 5] [--tick 60]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.adapters import firestore_views as views
from shared.adapters.firestore_store import ENVIRONMENTS, HISTORY, RELEASES, ROLLOUTS, history_id
from shared.cli import context
from shared.config import REPO_ROOT, load_config
from shared.domain.model import (
    Deployed,
    EnvironmentState,
    HistoryEntry,
    LastMove,
    Release,
    Rollout,
)
from shared.domain.states import RESTING, State
from shared.gates.checks_file import load_for
from shared.local.driving import head_commit, send_command
from shared.local.sample_app import MODE, VERSION, serve_all, serving
from shared.local.stack import Options, down, up
from shared.local.state import StackState
from shared.monitoring.client import batch_bytes, window_start
from shared.topics import APP_METRICS

ENV = "dev"
BAKE_MINUTES = 10
GOAL_S = 5.0  # not tick-bound: well under Cloud Scheduler's 60-second minimum
TO_BAKING_S = 300.0  # gates, migrate build, deploy build, smoke test
ROLLBACK_S = 60.0
POLL_S = 0.02
WARM_UP = "1.0.0"
SEED_ACTOR = "benchmark-seed"
# Far above dev's limits (function errors 5%, payment failures 2%) and its traffic minimums.
BREACH = {
    "functionInvocations": 400,
    "functionErrors": 120,
    "paymentAttempts": 60,
    "paymentFailures": 30,
}


class BenchFailed(Exception):
    pass


@dataclass
class Sample:
    release: str
    detection: float
    decision: float
    restore: float
    publish_call: float

    @property
    def total(self) -> float:
        return self.detection + self.decision + self.restore


# -- set-up -----------------------------------------------------------------------------------


def bench_config(directory: Path) -> Path:
    """config/environments.toml with dev's bake at 10 minutes and a 1-window confirmation."""
    text = (REPO_ROOT / "config" / "environments.toml").read_text(encoding="utf-8")
    dev = re.search(r"(?ms)^\[environments\.dev\]\n.*?(?=^\[|\Z)", text)
    if dev is None:
        raise BenchFailed("config/environments.toml has no [environments.dev] table")
    section = re.sub(r"(?m)^bake_minutes\s*=.*\n?", "", dev.group(0)).rstrip("\n")
    section += f"\nbake_minutes = {BAKE_MINUTES}\n\n"
    text = text[: dev.start()] + section + text[dev.end() :]
    header = "[environments.dev.thresholds]"
    if header in text:
        table = re.search(rf"(?ms)^{re.escape(header)}\n.*?(?=^\[|\Z)", text)
        assert table is not None
        body = re.sub(r"(?m)^consecutive_breaches\s*=.*\n?", "", table.group(0)).rstrip("\n")
        text = text[: table.start()] + body + "\nconsecutive_breaches = 1\n\n" + text[table.end() :]
    else:
        text = text.rstrip("\n") + f"\n\n{header}\nconsecutive_breaches = 1\n"
    path = directory / "bench-environments.toml"
    path.write_text(text, encoding="utf-8")
    dev_cfg = load_config(path).env(ENV)
    if dev_cfg.bake_minutes != BAKE_MINUTES or dev_cfg.thresholds.consecutive_breaches != 1:
        raise BenchFailed(f"could not set dev's bake and confirmation in {path}")
    return path


def seed_warm_up(stack: StackState, version: str, commit: str) -> None:
    """Write `version` as live in dev (no rollout ran) and make the dev sample app serve it."""
    db, now = context.db(), datetime.now(UTC)
    reason = "seeded by benchmarks/rollback_latency.py (not rolled out)"
    release = Release(
        version=version,
        commit=commit,
        branch="main",
        author=SEED_ACTOR,
        created_at=now,
        history_seq=1,
    )
    rollout = Rollout(
        release=version,
        env=ENV,
        state=State.LIVE,
        actor=SEED_ACTOR,
        created_at=now,
        updated_at=now,
        state_since=now,
        reason=reason,
    )
    entry = HistoryEntry(
        seq=1,
        event_id="benchmark-seed",
        env=ENV,
        attempt=1,
        from_state=None,
        to_state=State.LIVE,
        actor=SEED_ACTOR,
        at=now,
        reason=reason,
    )
    env_ref = db.collection(ENVIRONMENTS).document(ENV)
    snap = env_ref.get()
    env = EnvironmentState.model_validate(snap.to_dict() if snap.exists else {"name": ENV})
    if env.lock is not None or env.current is not None:
        raise BenchFailed(f"{ENV} is not empty on a fresh stack: {env.to_doc()}")
    deployed = Deployed(release=version, artifacts={VERSION: version, MODE: "ok"}, since=now)
    last = LastMove(release=version, attempt=1, state=State.LIVE, reason=reason, at=now)
    ref = db.collection(RELEASES).document(version)
    batch = db.batch()
    batch.set(ref, release.to_doc())
    batch.set(ref.collection(ROLLOUTS).document(ENV), rollout.to_doc())
    batch.set(ref.collection(HISTORY).document(history_id(1)), entry.to_doc())
    batch.set(
        env_ref, {"name": ENV, "current": deployed.to_doc(), "last": last.to_doc()}, merge=True
    )
    batch.commit()
    app = stack.apps[ENV]
    if not serve_all(app, version, "ok"):
        raise BenchFailed(f"{app.url} does not serve the seeded {version}")


# -- driving ------------------------------------------------------------------------------------


def _publish(topic: str, body: bytes) -> None:
    context.publisher().publish(topic, body)


def _dead_letters() -> str:
    letters = views.dead_letters(context.db(), limit=3)
    return "; ".join(f"{d.topic}: {d.reason}" for d in letters) or "none"


def _wait_release(version: str) -> None:
    deadline = time.monotonic() + 30.0  # Pub/Sub keeps no order: promote once it exists
    while views.release_view(context.db(), version) is None:
        if time.monotonic() > deadline:
            raise BenchFailed(f"release {version} not created (dead letters: {_dead_letters()})")
        time.sleep(0.1)


def _wait_state(release: str, wanted: State, timeout: float) -> Rollout:
    deadline, rollout = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        rollout = views.read_rollout(context.db(), release, ENV)
        if rollout is not None and rollout.state is wanted:
            return rollout
        if rollout is not None and rollout.state in RESTING:
            raise BenchFailed(
                f"{release} ended {rollout.state} in {ENV} instead of {wanted}: {rollout.reason}"
            )
        time.sleep(0.1)
    seen = rollout.state if rollout else "no rollout"
    raise BenchFailed(
        f"{release} in {ENV} still {seen} after {timeout:.0f}s waiting for {wanted} "
        f"(dead letters: {_dead_letters()})"
    )


def measure(stack: StackState, release: str, commit: str, previous: str, window: int) -> Sample:
    send_command(
        type="release.create",
        version=release,
        commit=commit,
        branch="main",
        author="demo-dev",
        artifacts={MODE: "errors"},
    )
    _wait_release(release)
    send_command(type="release.promote", release=release, env=ENV, actor="demo-dev")
    baking = _wait_state(release, State.BAKING, TO_BAKING_S)
    # Only windows starting at or after the bake's start are the bake's: wait for the first,
    # then a random part of it, so the publish does not keep one phase against the ticker's.
    while window_start(datetime.now(UTC), window) < baking.state_since:
        time.sleep(POLL_S)
    time.sleep(random.uniform(0, window / 2))
    app = stack.apps[ENV]
    body = batch_bytes(
        batch_id=f"bench-{release}-{time.time_ns()}",
        env=ENV,
        window_seconds=window,
        now=datetime.now(UTC),
        counters=BREACH,
        release=release,
    )
    t0 = time.time()
    _publish(APP_METRICS, body)
    publish_call = time.time() - t0
    deadline = time.monotonic() + ROLLBACK_S
    while (served := serving(app.url)) != previous:
        if time.monotonic() > deadline:
            rollout = views.read_rollout(context.db(), release, ENV)
            raise BenchFailed(
                f"{app.url} still serves {served} {ROLLBACK_S:.0f}s after the breaching batch; "
                f"{release} is {rollout.state if rollout else '?'} "
                f"({rollout.reason if rollout else ''}); dead letters: {_dead_letters()}"
            )
        time.sleep(POLL_S)
    t_served = time.time()
    t_restore = app.stable.state_file.stat().st_mtime  # the restore effect's write of the app state
    done = _wait_state(release, State.ROLLED_BACK, ROLLBACK_S)
    view = views.release_view(context.db(), release)
    entry = next(
        (h for h in (view.history if view else []) if h.to_state is State.ROLLING_BACK), None
    )
    if entry is None or entry.actor != "monitoring":
        who = entry.actor if entry else "nobody"
        raise BenchFailed(f"{release} was rolled back by {who}, not by the bake: {done.reason}")
    t_verdict = entry.at.timestamp()
    if not t0 <= t_verdict <= t_restore <= t_served:
        raise BenchFailed(
            f"{release}: times out of order (published {t0:.3f}, verdict {t_verdict:.3f}, "
            f"restore wrote {t_restore:.3f}, served {t_served:.3f})"
        )
    return Sample(
        release=release,
        detection=t_verdict - t0,
        decision=t_restore - t_verdict,
        restore=t_served - t_restore,
        publish_call=publish_call,
    )


# -- report -------------------------------------------------------------------------------------


def report(samples: list[Sample], window: int, judge_open: bool, tick: float) -> None:
    print(
        f"\nrollback latency, local stack: {ENV}, {window}-second windows "
        f"(judge_open_window={str(judge_open).lower()}), consecutive_breaches = 1, "
        f"tick {tick:g} s, bake {BAKE_MINUTES} min"
    )
    print(
        f"warm-up release {WARM_UP}: SEEDED as live in {ENV} (written to Firestore, not rolled out)"
    )
    print(
        "time from the breaching batch's publish call to GET /health serving the previous release\n"
    )
    head = (
        f"{'run':>3}  {'release':8} {'detection':>10} {'decision':>9} {'restore':>8} {'total':>7}"
    )
    print(head)
    print("-" * len(head))
    for i, s in enumerate(samples, 1):
        print(
            f"{i:>3}  {s.release:8} {s.detection:9.2f}s {s.decision:8.2f}s "
            f"{s.restore:7.2f}s {s.total:6.2f}s"
        )
    med = statistics.median
    total = med(s.total for s in samples)
    print("-" * len(head))
    print(
        f"{'med':>3}  {'':8} {med(s.detection for s in samples):9.2f}s "
        f"{med(s.decision for s in samples):8.2f}s {med(s.restore for s in samples):7.2f}s "
        f"{total:6.2f}s"
    )
    print(
        f"\n(publish call itself: median {med(s.publish_call for s in samples) * 1000:.0f} ms, "
        "inside detection)"
    )
    verdict = "met" if total <= GOAL_S else "NOT met"
    print(
        f"goal ≤ {GOAL_S:g} s with a 1-window confirmation and a {tick:g}-second tick: {verdict} "
        f"(median {total:.2f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--tick", type=float, default=1.0, help="monitoring tick period, s (Google Cloud: 60)"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-rollback-"))
    local_dir = tmp / "local"
    samples: list[Sample] = []
    try:
        config = bench_config(tmp)
        print(f"starting the local stack in {local_dir} …", flush=True)
        stack = up(
            Options(
                local_dir=local_dir,
                config_file=config,
                bake_minutes=None,
                tick_seconds=args.tick,
                seed=True,
            ),
            say=lambda m: print(f"  {m}", flush=True),
        )
        try:
            os.environ.update(stack.environment())
            context.settings.cache_clear()
            monitoring = load_for(context.plane()).env(ENV).monitoring
            commit = head_commit()
            seed_warm_up(stack, WARM_UP, commit)
            print(f"seeded {WARM_UP} as live in {ENV} (not rolled out)", flush=True)
            for n in range(1, args.runs + 1):
                release = f"1.{n}.0"
                print(f"run {n}: {release} (payments fail) → {ENV} …", flush=True)
                sample = measure(stack, release, commit, WARM_UP, monitoring.window_seconds)
                print(f"  rolled back, previous serving after {sample.total:.2f} s", flush=True)
                samples.append(sample)
        finally:
            print("stopping the local stack …", flush=True)
            down(local_dir, say=lambda m: print(f"  {m}", flush=True))
    except BenchFailed as exc:
        print(f"benchmark failed: {exc} (stack logs: {local_dir / 'logs'})", file=sys.stderr)
        if samples:
            report(samples, monitoring.window_seconds, monitoring.judge_open_window, args.tick)
        return 1
    report(samples, monitoring.window_seconds, monitoring.judge_open_window, args.tick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
