"""Kill a migration run mid-way (a real subprocess, SIGKILL), then resume it: every document
is migrated exactly once, by a migration that is not idempotent on purpose."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.config import DEFAULT_CONFIG_FILE, PlaneConfig
from tests.integration.test_migrations_support import DEV, client, seed, wipe, write_migration

DOCS, CHUNK, KILL_AT = 600, 50, 537

BUMP = """
import os, signal, time
version = "1.0.0"
description = "add 1 to every item's n, and die at document $KILL_AT when told to"
seen = 0

def bump(snap):
    global seen
    seen += 1
    if seen == int(os.environ.get("KILL_AT", "0")):
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: like a lost machine
    # slow enough that the batches BulkWriter sent before the kill have landed by then
    time.sleep(0.005)
    return {"n": snap.get("n") + 1}

def up(ctx):
    ctx.migrate("items", bump)

def down(ctx):
    ctx.migrate("items", lambda snap: {"n": snap.get("n") - 1})
"""


def releasectl(directory: Path, *args: str, kill_at: int = 0) -> subprocess.CompletedProcess[str]:
    code = "from shared.cli import main; main()"
    env = {
        **os.environ,
        "KILL_AT": str(kill_at),
        "RELEASECTL_ACTOR": "resume-test",
        "RELEASECTL_CONFIG_FILE": str(DEFAULT_CONFIG_FILE),
    }
    cmd = [sys.executable, "-c", code, "migrate", "up", "--env", DEV, "--dir", str(directory)]
    return subprocess.run(
        [*cmd, "--chunk-size", str(CHUNK), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_killed_run_resumes_and_migrates_every_document_exactly_once(
    emulator_env: dict[str, str], plane: PlaneConfig, tmp_path: Path
) -> None:
    project = plane.env(DEV).project
    wipe(emulator_env["FIRESTORE_EMULATOR_HOST"], project)
    db: Any = client(project)
    seed(db, "items", DOCS, n=0)
    directory = tmp_path / "m"
    write_migration(directory, "001_bump.py", BUMP)

    killed = releasectl(directory, kill_at=KILL_AT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    entry = db.document("_schema/current/history/1.0.0").get().to_dict()
    assert entry["outcome"] == "running"
    checkpoint = entry["checkpoints"]["items"]
    assert checkpoint["chunks"] == KILL_AT // CHUNK - 1 or checkpoint["chunks"] == KILL_AT // CHUNK
    pending = [i for i, _ in json.loads(checkpoint["pending"])]  # in flight at the kill
    in_flight = {d.id: d.get("n") for d in db.collection("items").stream() if d.id in pending}
    assert set(in_flight.values()) == {0, 1}  # partly written: the case resuming must get right
    assert db.document("_schema/lock").get().exists  # the dead run never released it

    resumed = releasectl(directory, "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)["run"]
    assert report["steps"][0]["resumed"] is True
    assert "1.0.0 items: " in resumed.stderr and "docs/s" in resumed.stderr  # plain progress

    values = [d.get("n") for d in db.collection("items").stream()]
    assert len(values) == DOCS and set(values) == {1}  # none twice, none skipped
    entry = db.document("_schema/current/history/1.0.0").get().to_dict()
    assert entry["outcome"] == "success" and entry["checkpoints"] == {}
    assert not db.document("_schema/lock").get().exists


@pytest.mark.parametrize("kill_at", [CHUNK, 2 * CHUNK + 1])
def test_resume_at_chunk_edges(
    emulator_env: dict[str, str], plane: PlaneConfig, tmp_path: Path, kill_at: int
) -> None:
    project = plane.env(DEV).project
    wipe(emulator_env["FIRESTORE_EMULATOR_HOST"], project)
    db: Any = client(project)
    seed(db, "items", 4 * CHUNK, n=0)
    directory = tmp_path / "m"
    write_migration(directory, "001_bump.py", BUMP)
    assert releasectl(directory, kill_at=kill_at).returncode == -signal.SIGKILL
    assert releasectl(directory).returncode == 0
    assert {d.get("n") for d in db.collection("items").stream()} == {1}
