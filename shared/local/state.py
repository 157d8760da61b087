"""What a running local stack is made of, saved as `<local dir>/stack.json`.

The CLI, the function servers and the local build runner all find the stack through this file
(its directory is `RELEASECTL_LOCAL_DIR`, default `.local/` in the checkout).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from shared.approvals.tokens import EMULATOR_ENV, LOCAL_AUTH_EMULATOR
from shared.config import REPO_ROOT

DEFAULT_LOCAL_DIR = REPO_ROOT / ".local"
STATE_FILE = "stack.json"


class Proc(BaseModel):
    pid: int
    port: int | None = None


class App(BaseModel):
    """The sample app serving one environment."""

    pid: int
    port: int
    state_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class StackState(BaseModel):
    local_dir: Path
    started_at: datetime
    firestore: Proc
    pubsub: Proc
    functions: dict[str, Proc]
    apps: dict[str, App]
    ticker: Proc | None = None
    config_file: Path

    @property
    def firestore_host(self) -> str:
        return f"127.0.0.1:{self.firestore.port}"

    @property
    def pubsub_host(self) -> str:
        return f"127.0.0.1:{self.pubsub.port}"

    @property
    def secrets_dir(self) -> Path:
        return Path(self.environment()["RELEASECTL_SECRETS_DIR"])

    def environment(self) -> dict[str, str]:
        return environment(self.local_dir, self.firestore_host, self.pubsub_host, self.config_file)

    def pids(self) -> list[int]:
        pids = [self.firestore.pid, self.pubsub.pid]
        pids += [p.pid for p in self.functions.values()] + [a.pid for a in self.apps.values()]
        return pids + ([self.ticker.pid] if self.ticker else [])

    def save(self) -> None:
        self.local_dir.mkdir(parents=True, exist_ok=True)
        path = self.local_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(path)


def environment(
    local_dir: Path, firestore_host: str, pubsub_host: str, config_file: Path
) -> dict[str, str]:
    """What a process needs to talk to a stack (emulators, config, secrets, the stack itself)."""
    return {
        "FIRESTORE_EMULATOR_HOST": firestore_host,
        "PUBSUB_EMULATOR_HOST": pubsub_host,
        EMULATOR_ENV: LOCAL_AUTH_EMULATOR,  # approvals: emulator tokens (docs/GATES.md)
        "RELEASECTL_CONFIG_FILE": str(config_file),
        "RELEASECTL_LOCAL_DIR": str(local_dir),
        "RELEASECTL_SECRETS_DIR": str(local_dir / "secrets"),
        "RELEASECTL_SECRETS_BACKEND": "local",
    }


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def load(local_dir: Path) -> StackState | None:
    """The stack recorded in `local_dir`, or None if there is none or it is no longer running."""
    path = local_dir / STATE_FILE
    if not path.exists():
        return None
    state = StackState.model_validate_json(path.read_text(encoding="utf-8"))
    return state if alive(state.firestore.pid) and alive(state.pubsub.pid) else None


def local_dir_from_env() -> Path:
    return Path(os.environ.get("RELEASECTL_LOCAL_DIR") or DEFAULT_LOCAL_DIR)
