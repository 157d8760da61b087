"""The walkthroughs of README.md ("First steps on the local stack") and docs/LOCAL.md ("Try")
run as written, in order, on a fresh local stack with the shipped config: each `$ ` line of a
```console block is one shell command, whose exit code must be 0 or what its `# exit N` says.
A walkthrough that does not work fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.local.stack import Options, down, up

REPO = Path(__file__).resolve().parents[2]
WALKTHROUGHS = [REPO / "README.md", REPO / "docs" / "LOCAL.md"]
BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")
# What a newcomer's shell does not have: the stack is found through RELEASECTL_LOCAL_DIR alone.
UNSET = (
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "FIREBASE_AUTH_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
    "RELEASECTL_CONTROL_PROJECT",
    "RELEASECTL_CONFIG_FILE",
    "RELEASECTL_CHECKS_FILE",
    "RELEASECTL_TARGET",
)
pytestmark = pytest.mark.timeout(900)


@dataclass(frozen=True)
class Step:
    source: str
    command: str
    exit_code: int


def steps(path: Path) -> list[Step]:
    """The `$ ` lines of every ```console block of `path`, with their expected exit codes."""
    found = []
    for block in BLOCK.findall(path.read_text(encoding="utf-8")):
        for line in block.splitlines():
            if not line.startswith("$ "):
                continue  # sample output
            command = line.removeprefix("$ ")
            match = EXIT.search(command)
            code = int(match.group(1)) if match else 0
            command = command[: match.start()] if match else command
            found.append(Step(path.name, command.strip(), code))
    return found


def test_the_walkthroughs_are_found() -> None:
    readme, local = (steps(path) for path in WALKTHROUGHS)
    assert any("release rollback" in s.command for s in readme)
    assert any(s.exit_code == 1 for s in local)


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    local_dir = tmp_path_factory.mktemp("walkthrough")
    with pytest.MonkeyPatch.context() as mp:
        for name in UNSET:
            mp.delenv(name, raising=False)
        started = time.monotonic()
        up(Options(local_dir=local_dir, bake_minutes=0, tick_seconds=1.0), say=print)
        print(f"stack up in {time.monotonic() - started:.1f}s")
    try:
        yield local_dir
    finally:
        down(local_dir, say=print)


def shell_env(local_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    bin_dir = str(Path(sys.executable).parent)
    return {
        **env,
        "PATH": f"{bin_dir}:{env.get('PATH', '')}",
        "RELEASECTL_LOCAL_DIR": str(local_dir),
    }


def test_every_walkthrough_line_runs_with_the_exit_code_it_states(stack_dir: Path) -> None:
    env = shell_env(stack_dir)
    for step in [s for path in WALKTHROUGHS for s in steps(path)]:
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", step.command],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        took = time.monotonic() - started
        print(f"$ {step.command}  -> {done.returncode} ({took:.1f}s)\n{done.stdout}{done.stderr}")
        assert done.returncode == step.exit_code, (
            f"{step.source}: `{step.command}` exited {done.returncode}, the doc says "
            f"{step.exit_code}\n{done.stdout}\n{done.stderr}"
        )
