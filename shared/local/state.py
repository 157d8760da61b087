"""What a running local stack is made of, saved as `<local dir>/stack.json`.

The CLI, the function servers and the local build runner all find the stack through this file
(its directory is `RELEASECTL_LOCAL_DIR`, default `.local/` in the checkout). `health` says, part
by part, whether the recorded processes still run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from shared.approvals.tokens import EMULATOR_ENV, LOCAL_AUTH_EMULATOR
from shared.config import REPO_ROOT
from shared.errors import ControlPlaneError
from shared.local.emulators import HOST, port_open

DEFAULT_LOCAL_DIR = REPO_ROOT / ".local"
STATE_FILE = "stack.json"
NOTIFY_FILE = "notifications.toml"  # the local copy: mail goes to the loopback SMTP server
NOTIFY_FILE_ENV = "RELEASECTL_NOTIFY_FILE"
PartKind = Literal["emulator", "function", "router", "app", "ticker", "simulator", "traffic"]
REMOTE_CONFIG_PART = "remote-config"
PartStatus = Literal["running", "dead"]


class Proc(BaseModel):
    pid: int
    port: int | None = None


class AppVersion(BaseModel):
    """One version slot of an environment's sample app (`stable` or `canary`): a process
    serving what its state file says, at its own URL."""

    pid: int
    port: int
    state_file: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


SLOTS = ("stable", "canary")


class App(BaseModel):
    """One environment's sample app: the traffic-splitting router at the env's URL
    (`shared.local.router`, the canary's share in `routes_file`) in front of two versions."""

    pid: int  # the router
    port: int
    routes_file: Path
    stable: AppVersion
    canary: AppVersion

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def slot(self, name: str) -> AppVersion:
        return self.stable if name == "stable" else self.canary


class Receivers(BaseModel):
    """The loopback notification receivers (`shared.local.inbox`): webhooks and SMTP."""

    pid: int
    port: int  # HTTP: the Slack- and Discord-compatible webhooks
    smtp_port: int

    def webhook_urls(self, env: str) -> dict[str, str]:
        """The secret each env's notification webhook URL is seeded with (made-up ids)."""
        base = f"http://{HOST}:{self.port}"
        tag = "".join(c for c in env if c.isalnum()).upper() or "ENV"
        return {
            "SLACK_WEBHOOK_URL": f"{base}/services/TLOCAL/B{tag}/local{tag.lower()}hook",
            "DISCORD_WEBHOOK_URL": f"{base}/api/webhooks/{len(env)}0001/local-{tag.lower()}",
        }


class Part(BaseModel):
    """One process of the stack as `releasectl local status` shows it. Its name is also its
    log's name (`<local dir>/logs/<name>.log`)."""

    name: str
    kind: PartKind
    pid: int
    port: int | None = None
    url: str | None = None
    status: PartStatus = "running"

    @property
    def running(self) -> bool:
        return self.status == "running"


def _part(name: str, kind: PartKind, proc: Proc | App | AppVersion) -> Part:
    url = f"http://{HOST}:{proc.port}" if proc.port else None
    return Part(name=name, kind=kind, pid=proc.pid, port=proc.port, url=url)


class StackState(BaseModel):
    local_dir: Path
    started_at: datetime
    firestore: Proc
    pubsub: Proc
    functions: dict[str, Proc]
    apps: dict[str, App]
    ticker: Proc | None = None
    traffic: Proc | None = None  # the background traffic generator (older files: none)
    receivers: Receivers | None = None  # older stacks had none
    remote_config: Proc | None = None  # the Remote Config simulator (older files: none)
    # the store simulators (docs/MOBILE.md): play, app-store-connect
    simulators: dict[str, Proc] = {}
    config_file: Path
    tick_seconds: float = 3.0  # what a restarted ticker runs with (older files: the default)

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
        env = environment(self.local_dir, self.firestore_host, self.pubsub_host, self.config_file)
        if self.receivers is not None:
            env[NOTIFY_FILE_ENV] = str(self.local_dir / NOTIFY_FILE)
        return {**env, **simulator_urls(self.simulators)}

    def parts(self) -> list[Part]:
        """Every recorded process, in start order; `status` unchecked (see `health`)."""
        parts = [_part("firestore", "emulator", self.firestore)]
        parts.append(_part("pubsub", "emulator", self.pubsub))
        parts += [_part(target, "function", p) for target, p in self.functions.items()]
        for env, app in self.apps.items():
            parts += [_part(f"app-{env}-{slot}", "app", app.slot(slot)) for slot in SLOTS]
            parts.append(_part(f"router-{env}", "router", app))
        if self.remote_config is not None:
            parts.append(_part(REMOTE_CONFIG_PART, "simulator", self.remote_config))
        parts += [_part("ticker", "ticker", self.ticker)] if self.ticker else []
        parts += [_part("traffic", "traffic", self.traffic)] if self.traffic else []
        if self.receivers is not None:
            r = self.receivers
            parts.append(
                Part(
                    name="webhooks",
                    kind="simulator",
                    pid=r.pid,
                    port=r.port,
                    url=f"http://{HOST}:{r.port}",
                )
            )
            parts.append(
                Part(
                    name="smtp",
                    kind="simulator",
                    pid=r.pid,
                    port=r.smtp_port,
                    url=f"smtp://{HOST}:{r.smtp_port}",
                )
            )
        parts += [_part(f"sim-{name}", "simulator", p) for name, p in self.simulators.items()]
        return parts

    def pids(self) -> list[int]:
        return [part.pid for part in self.parts()]

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
        # `releasectl` in the stack's builds uses these emulators, whatever the shell that
        # started the stack chose for itself (docs/CLI.md, "Where releasectl talks to")
        "RELEASECTL_TARGET": "emulators",
        "RELEASECTL_SECRETS_DIR": str(local_dir / "secrets"),
        "RELEASECTL_SECRETS_BACKEND": "local",
    }


def simulator_urls(simulators: dict[str, Proc]) -> dict[str, str]:
    """The variables that point the production store adapters at the simulators."""
    from shared.local.store_sims import URL_VARIABLES

    return {
        variable: f"http://{HOST}:{proc.port}/"
        for name, proc in simulators.items()
        for variable in URL_VARIABLES.get(name, ())
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


TICKER_MODULE = "shared.local.ticker"
TRAFFIC_MODULE = "shared.local.traffic"
# what names a part without a port on its command line: its module
_MODULES = {"ticker": TICKER_MODULE, "traffic": TRAFFIC_MODULE}


def owned(part: Part) -> bool:
    """Whether the live process `part.pid` is still the one the stack started: its command line
    names the part's port (`--port N`, `--host-port=H:N`) or, for the ticker and the traffic
    generator, its module. A recorded pid can be another program's after a reboot or a long
    while; never stop that one. Where there is no /proc to ask, assume it is ours."""
    if not Path("/proc").is_dir():
        return True
    try:
        args = Path(f"/proc/{part.pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    mark = str(part.port) if part.port else _MODULES.get(part.name, TICKER_MODULE)
    return any(arg == mark or arg.endswith((f"={mark}", f":{mark}")) for arg in args)


def runs(part: Part) -> bool:
    """Whether the process the stack started for `part` is alive (zombies are not)."""
    return alive(part.pid) and owned(part)


def part_status(
    part: Part,
    process_runs: Callable[[Part], bool] = runs,
    port_answers: Callable[[int], bool] = port_open,
) -> PartStatus:
    """Running = its process runs and, if it has a port, the port answers. Neither alone will
    do: a server can run and not listen (hung, its worker gone), and a port can still answer
    after the recorded process died (an emulator's Java outlives its killed wrapper)."""
    if not process_runs(part):
        return "dead"
    return "running" if part.port is None or port_answers(part.port) else "dead"


def health(
    state: StackState,
    process_runs: Callable[[Part], bool] = runs,
    port_answers: Callable[[int], bool] = port_open,
) -> list[Part]:
    """Each part of the stack with its status, checked now."""
    return [
        part.model_copy(update={"status": part_status(part, process_runs, port_answers)})
        for part in state.parts()
    ]


def recorded(local_dir: Path) -> StackState | None:
    """The stack recorded in `local_dir`, whatever still runs of it (None: none recorded)."""
    path = local_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        return StackState.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        # e.g. a stack started by an older checkout (one sample app per env, no router)
        raise ControlPlaneError(
            f"{path} does not describe a stack this version can run ({exc.error_count()} "
            f"problem(s), first: {exc.errors()[0]['msg']}): stop its processes (`releasectl "
            "local down` from the checkout that started it) or remove the file"
        ) from None


def load(local_dir: Path) -> StackState | None:
    """The stack recorded in `local_dir` if its emulators run, else None: what a client (the
    CLI, a function server, a build) needs to talk to it. `health` says which parts run."""
    state = recorded(local_dir)
    if state is None:
        return None
    return state if alive(state.firestore.pid) and alive(state.pubsub.pid) else None


def local_dir_from_env() -> Path:
    return Path(os.environ.get("RELEASECTL_LOCAL_DIR") or DEFAULT_LOCAL_DIR)
