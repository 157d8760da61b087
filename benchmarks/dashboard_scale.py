"""What `releasectl status`, the dashboard and DORA cost with a long history, on the emulator.

Seeds 10,000 releases with 100,000 history entries over a year (three environments, one
rollout per release, some rolled back; every tenth release with an Android and an iOS train of
four history lines each), then times `status`, the dashboard's overview (with its mobile
section), a release page, the mobile page, a release's trains page and DORA over a year for
production, printing p50/p95 and the Firestore documents each request read. The baseline,
measured in the same run: the same requests on a history of 30 releases (reads that do not
grow with the history), and DORA computed from a scan of the whole history collection group
(what the index saves). Goals: status and overview p95 <= 1 s, DORA
<= 2 s.

    .venv/bin/python benchmarks/dashboard_scale.py [--releases 10000] [--per-release 10] [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from google.cloud import firestore

from benchmarks._emulator import firestore_emulator
from shared.adapters import firestore_views as views
from shared.config import DEFAULT_CONFIG_FILE, load_config
from shared.dashboard.reader import FirestoreReader
from shared.dora.model import Change, Move, report

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ENVS = ("dev", "staging", "production")
FORWARD = ("pending", "gating", "awaiting_approval", "migrating", "deploying", "verifying")


class Reads:
    """Documents the client received, counted on its GAPIC streams (queries and batch gets)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        api = client._firestore_api
        for name, has in (("run_query", "document"), ("batch_get_documents", "found")):
            setattr(api, name, self._counted(getattr(api, name), has))

    def _counted(self, real: Callable[..., Any], field: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
            for response in real(*args, **kwargs):
                if field in response and getattr(response, field).name:
                    self.count += 1
                yield response

        return call


def history(version: str, env: str, start: datetime, n: int, bad: bool) -> list[dict[str, Any]]:
    """`n` moves of one rollout: forward to live, or through rolling_back to rolled_back."""
    tail = ["baking", "rolling_back", "rolled_back"] if bad else ["baking", "live"]
    moves = (list(FORWARD) + tail)[:n] if n <= len(FORWARD) + len(tail) else list(FORWARD) + tail
    moves += ["live"] * (n - len(moves))  # longer histories: re-promotions' moves
    return [
        {
            "seq": i + 1, "eventId": f"{version}-{i}", "env": env, "attempt": 1,
            "from": moves[i - 1] if i else None, "to": to, "actor": "bench",
            "at": start + timedelta(minutes=3 * i), "reason": "rolled back" if bad else None,
        }
        for i, to in enumerate(moves)
    ]  # fmt: skip


def seed(db: Any, releases: int, per_release: int) -> int:
    """Write the releases, rollouts and histories in batches; returns documents written."""
    rng = random.Random(7)
    batch, written, step = db.batch(), 0, timedelta(days=365) / max(releases, 1)
    last: dict[str, str] = {}
    for i in range(releases):
        version, env = f"{i // 100}.{i % 100}.0", ENVS[i % 3]
        at = NOW - timedelta(days=365) + step * i
        bad = rng.random() < 0.08
        ref = db.collection("releases").document(version)
        batch.set(ref, {"version": version, "commit": "ab" * 20, "branch": "main",
                        "author": "bench", "createdAt": at - timedelta(hours=2),
                        "artifacts": {}, "historySeq": per_release})  # fmt: skip
        entries = history(version, env, at, per_release, bad)
        state = entries[-1]["to"]
        batch.set(ref.collection("rollouts").document(env), {
            "release": version, "env": env, "state": state, "attempt": 1, "actor": "bench",
            "createdAt": at, "updatedAt": entries[-1]["at"], "stateSince": entries[-1]["at"],
            "steps": {},
        })  # fmt: skip
        for e in entries:
            batch.set(ref.collection("history").document(f"{e['seq']:06d}"), e)
        written += 2 + len(entries)
        if not bad:
            last[env] = version
        if written % 480 < 2 + per_release:
            batch.commit()
            batch = db.batch()
    batch.commit()
    for env, version in last.items():
        db.collection("environments").document(env).set({
            "name": env, "current": {"release": version, "artifacts": {}, "since": NOW},
            "last": {"release": version, "attempt": 1, "state": "live", "at": NOW},
        })  # fmt: skip
    return written


TRAIN_EVERY, TRAIN_LINES = 10, 4


def seed_trains(db: Any, releases: int) -> int:
    """Every tenth release's Android and iOS trains, each with its history; the latest holds
    the production tracks. Returns documents written."""
    batch, written, step = db.batch(), 0, timedelta(days=365) / max(releases, 1)
    version = ""
    for i in range(0, releases, TRAIN_EVERY):
        version, at = f"{i // 100}.{i % 100}.0", NOW - timedelta(days=365) + step * i
        for platform, track, status in (
            ("android", "production", "completed"),
            ("ios", "appstore", "COMPLETE"),
        ):
            ref = db.collection("releases").document(version).collection("trains")
            train = ref.document(platform)
            batch.set(train, {
                "release": version, "platform": platform, "build": 1000 + i, "track": track,
                "status": status, "step": 3, "ids": {}, "actor": "bench", "evidence": {},
                "updatedAt": at + timedelta(days=3), "seq": TRAIN_LINES,
            })  # fmt: skip
            for n in range(1, TRAIN_LINES + 1):
                batch.set(train.collection("history").document(f"{n:06d}"), {
                    "seq": n, "eventId": f"{version}-{platform}-{n}", "verb": "promote",
                    "actor": "bench", "at": at + timedelta(hours=n), "outcome": "confirmed",
                    "evidence": {},
                })  # fmt: skip
            written += 1 + TRAIN_LINES
        if written % 400 < 2 * (1 + TRAIN_LINES):
            batch.commit()
            batch = db.batch()
    batch.commit()
    for platform, track in (("android", "production"), ("ios", "appstore")):
        db.collection("mobileTracks").document(f"{platform}:{track}").set(
            {"platform": platform, "track": track, "release": version, "since": NOW}
        )
    return written


def timed(fn: Callable[[], Any], reads: Reads, runs: int) -> tuple[float, float, float]:
    """p50 and p95 in ms, and documents read per request."""
    took, docs = [], []
    for _ in range(runs):
        before, start = reads.count, time.perf_counter()
        fn()
        took.append((time.perf_counter() - start) * 1000)
        docs.append(reads.count - before)
    took.sort()
    p95 = took[min(len(took) - 1, round(0.95 * (len(took) - 1)))]
    return statistics.median(took), p95, statistics.median(docs)


def scan_dora(db: Any) -> Any:
    """DORA without the index: every history entry of every release, filtered here."""
    moves = []
    since = NOW - timedelta(days=365)
    for snap in db.collection_group("history").stream():
        d = snap.to_dict()
        if d.get("env") == "production" and d["at"] >= since:  # train lines have no env
            moves.append(Move(snap.reference.parent.parent.id, d["attempt"], d["to"], d["at"]))
    versions = {m.release for m in moves}
    changes = {v: Change(v, "main", since) for v in versions}
    return report("production", moves, changes, since, NOW)


def measure(db: Any, reads: Reads, runs: int, sample: str) -> dict[str, tuple[float, float, float]]:
    plane = load_config(DEFAULT_CONFIG_FILE)
    reader = FirestoreReader(db, plane, lambda env: db, lambda env: None)
    year = NOW - timedelta(days=365)

    def dora() -> Any:
        return views.dora(db, "production", year, NOW)

    def overview() -> Any:
        # the env cards and the mobile section (the trains holding production, by id)
        return reader.environments(), reader.apps(1, current=True)

    return {
        "status": timed(lambda: views.env_status(db, plane), reads, runs),
        "overview": timed(overview, reads, runs),
        "release page": timed(lambda: reader.release(sample), reads, runs),
        "mobile page": timed(lambda: reader.apps(10), reads, runs),
        "trains page": timed(lambda: reader.trains(sample, True), reads, runs),
        "DORA, cold": timed(dora, reads, 1),  # settles the year's days into doraDays
        "DORA, 1 year": timed(dora, reads, max(3, runs // 4)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--per-release", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with firestore_emulator():
        small = firestore.Client(project="demo-bench-small")
        big = firestore.Client(project="demo-bench-large")
        seed(small, 30, args.per_release)
        seed_trains(small, 30)
        start = time.perf_counter()
        written = seed(big, args.releases, args.per_release) + seed_trains(big, args.releases)
        print(f"seeded {written:,} documents ({args.releases:,} releases, "
              f"{args.releases * args.per_release:,} history entries, "
              f"{2 * len(range(0, args.releases, TRAIN_EVERY)):,} trains) in "
              f"{time.perf_counter() - start:.0f} s")  # fmt: skip
        small_reads, big_reads = Reads(small), Reads(big)
        base = measure(small, small_reads, args.runs, "0.10.0")
        middle = args.releases // 2 // TRAIN_EVERY * TRAIN_EVERY  # a release with trains
        full = measure(big, big_reads, args.runs, f"{middle // 100}.{middle % 100}.0")
        scan = timed(lambda: scan_dora(big), big_reads, 1)
    head = f"{'request':<14} {'p50 ms':>8} {'p95 ms':>8} {'docs':>7}"
    print(f"\n{head} {'30-release p50':>15} {'ratio':>6}")
    for name, (p50, p95, docs) in full.items():
        b = base[name][0]
        print(f"{name:<14} {p50:>8.0f} {p95:>8.0f} {docs:>7.0f} {b:>15.0f} {p50 / b:>6.1f}")
    print(f"{'DORA by scan':<14} {scan[0]:>8.0f} {scan[1]:>8.0f} {scan[2]:>7.0f}"
          f"   (no index: {scan[0] / full['DORA, 1 year'][0]:.1f}x the indexed query)")  # fmt: skip


if __name__ == "__main__":
    main()
