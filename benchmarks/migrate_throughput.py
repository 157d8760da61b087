"""Throughput of the migrations engine on the Firestore emulator (prints figures; no asserts).

A migration that adds 1 to a field of every document of a 50,000-document collection, run by:
  engine       `ctx.migrate` as shipped: chunked BulkWriter, every write conditional on the
               update time it was read with, a fenced checkpoint per chunk
  engine-uncond the same with `conditional=False` (no preconditions, still exactly-once resume)
  raw          a plain loop: stream the collection, `BulkWriter.update` each document
  raw-cond     the same loop with the engine's update-time preconditions (like for like)
  naive        stream, then `DocumentReference.set` one document at a time (on a slice of the
               collection, as it is slow; compared in docs/s)
All variants run twice, interleaved, in the same emulator, so drift hits them alike. Then a run
is SIGKILLed half-way in a subprocess and resumed: how many documents the resume read again.

    .venv/bin/python benchmarks/migrate_throughput.py [--docs 50000] [--naive-docs 5000]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.config import EnvConfig  # noqa: E402
from shared.local import emulators  # noqa: E402
from shared.migrations.files import Migration  # noqa: E402
from shared.migrations.handler import Engine  # noqa: E402
from shared.migrations.model import MigrationInfo  # noqa: E402
from shared.migrations.passes import DEPTH  # noqa: E402
from shared.migrations.writer import bulk_options  # noqa: E402

PROJECT = "demo-bench-migrate"
CHUNK = 500


def seed(db: Any, count: int) -> None:
    from google.cloud.firestore_v1.bulk_writer import BulkWriter

    writer = BulkWriter(db, bulk_options(local=True))
    for i in range(count):
        writer.set(
            db.collection("items").document(f"doc{i:06d}"), {"i": i, "n": 0, "pad": "x" * 64}
        )
    writer.close()


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    t0 = time.perf_counter()
    docs = fn()
    return docs, time.perf_counter() - t0


def raw_bulkwriter(db: Any, conditional: bool = False) -> int:
    from google.cloud.firestore_v1.bulk_writer import BulkWriter

    writer = BulkWriter(db, bulk_options(local=True))
    docs = 0
    for snap in db.collection("items").stream():
        option = db.write_option(last_update_time=snap.update_time) if conditional else None
        writer.update(snap.reference, {"n": snap.get("n") + 1}, option=option)
        docs += 1
    writer.close()
    return docs


def naive_set(db: Any, limit: int) -> int:
    docs = 0
    for snap in db.collection("items").limit(limit).stream():
        data = snap.to_dict()
        data["n"] += 1
        snap.reference.set(data)
        docs += 1
    return docs


def _bump(ctx: Any) -> None:
    ctx.migrate("items", lambda snap: {"n": snap.get("n") + 1})


def _bump_uncond(ctx: Any) -> None:
    ctx.migrate("items", lambda snap: {"n": snap.get("n") + 1}, conditional=False)


def engine_run(db: Any, env: EnvConfig, version: str, conditional: bool = True) -> int:
    info = MigrationInfo(
        number=1,
        name="bump",
        file="001_bump.py",
        version=version,
        description="bench",
        checksum="sha256:bench-" + version,
        has_down=False,
    )
    # each round is a fresh schema history, so the same pass can run again
    for doc in db.collection("_schema/current/history").list_documents():
        doc.delete()
    up = _bump if conditional else _bump_uncond
    engine = Engine(db, env, [Migration(info, up, None)], actor="bench", chunk_size=CHUNK)
    report = engine.up()
    return report.steps[0].docs_written


KILLED = """
import os, signal
version = "9.0.0"
description = "bump, killed half-way"
seen = 0

def bump(snap):
    global seen
    seen += 1
    if seen == int(os.environ.get("KILL_AT", "0")):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"n": snap.get("n") + 1}

def up(ctx):
    ctx.migrate("items", bump)
"""


def resume_overhead(db: Any, host: str, count: int, config: Path) -> dict[str, float]:
    for doc in db.collection("_schema/current/history").list_documents():
        doc.delete()
    work = Path(tempfile.mkdtemp(prefix="bench-migrations-"))
    (work / "001_bump.py").write_text(textwrap.dedent(KILLED).lstrip())
    env = {
        **os.environ,
        "FIRESTORE_EMULATOR_HOST": host,
        "RELEASECTL_CONFIG_FILE": str(config),
        "KILL_AT": str(count // 2 + CHUNK // 3),
    }
    cmd = [
        sys.executable,
        "-c",
        "from shared.cli import main; main()",
        "migrate",
        "up",
        "--env",
        "bench",
        "--dir",
        str(work),
        "--chunk-size",
        str(CHUNK),
    ]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    env["KILL_AT"] = "0"
    t0 = time.perf_counter()
    resumed = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    import json

    step = json.loads(resumed.stdout)["run"]["steps"][0]
    return {
        "reread": step["reread_on_resume"],
        "seconds": seconds,
        "remaining": count - count // 2 - CHUNK // 3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--naive-docs", type=int, default=5_000)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-emulator-"))
    emulator = emulators.start_firestore(log_dir)
    try:
        run(emulator.host_port, args.docs, args.naive_docs, log_dir)
    finally:
        emulator.stop()


def run(host: str, count: int, naive_count: int, work: Path) -> None:
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    from google.cloud import firestore

    db = firestore.Client(project=PROJECT)
    env = EnvConfig(name="bench", project=PROJECT)
    config = work / "environments.toml"
    config.write_text(f'[environments.bench]\nproject = "{PROJECT}"\n')
    _, seed_s = timed(lambda: (seed(db, count), count)[1])
    print(f"seeded {count} docs in {seed_s:.1f}s ({count / seed_s:,.0f} docs/s)")

    variants: dict[str, Callable[[int], int]] = {
        "raw": lambda r: raw_bulkwriter(db),
        "raw-cond": lambda r: raw_bulkwriter(db, conditional=True),
        "engine": lambda r: engine_run(db, env, f"1.0.{r}"),
        "engine-uncond": lambda r: engine_run(db, env, f"1.1.{r}", conditional=False),
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(2):
        for name, fn in variants.items():
            docs, s = timed(lambda fn=fn, r=round_: fn(r))
            rates[name].append(docs / s)
            print(
                f"{name:14} round {round_ + 1}: {docs} docs in {s:5.1f}s = {docs / s:6,.0f} docs/s"
            )
    docs, s = timed(lambda: naive_set(db, naive_count))
    naive = docs / s
    print(f"{'naive set()':14}        : {docs} docs in {s:5.1f}s = {naive:6,.0f} docs/s")

    mean = {name: sum(v) / len(v) for name, v in rates.items()}
    print()
    print(" | ".join(f"{name} {rate:,.0f} docs/s" for name, rate in mean.items()))
    print(f"naive {naive:,.0f} docs/s")
    print(f"engine / raw BulkWriter          = {mean['engine'] / mean['raw']:.2f}x  (goal >= 0.9x)")
    print(f"engine-uncond / raw BulkWriter   = {mean['engine-uncond'] / mean['raw']:.2f}x")
    print(f"engine / raw-cond (like for like) = {mean['engine'] / mean['raw-cond']:.2f}x")
    print(f"engine / naive set               = {mean['engine'] / naive:.2f}x  (goal >= 3x)")
    print(f"raw BulkWriter / naive set       = {mean['raw'] / naive:.2f}x  (the ceiling here)")

    res = resume_overhead(db, host, count, config)
    print(
        f"resume after SIGKILL at doc {count // 2 + CHUNK // 3}: re-read {res['reread']:.0f} docs "
        f"({res['reread'] / count:.2%} of the collection; at most {DEPTH} chunks of {CHUNK}); "
        f"resumed run finished the remaining {res['remaining']:.0f} docs in {res['seconds']:.1f}s "
        "(includes interpreter start-up)"
    )


if __name__ == "__main__":
    main()
