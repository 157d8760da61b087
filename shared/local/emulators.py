"""Start and stop the Google emulators (Firestore, Pub/Sub) as process groups on free ports.

The emulators are wrapper scripts around a Java process: each starts in its own session so that
stopping it ends the whole group (killing only the wrapper leaves Java listening).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess  # nosec B404 -- starts the emulators, argv lists only
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from shared.config import REPO_ROOT
from shared.errors import ControlPlaneError

T = TypeVar("T")
HOST = "127.0.0.1"
READY_TIMEOUT_S = 90.0


class EmulatorError(ControlPlaneError):
    """An emulator could not be started (missing tool, or it never answered)."""


class PortTaken(EmulatorError):
    """The free port we picked was taken by someone else before the process could bind it."""


PORT_ATTEMPTS = 3


PORT_PICKS = 100


def on_free_port(start: Callable[[int], T], port: int | None) -> T:
    """`start(port)`; with no port asked for, a fresh free port per try: between picking a free
    port and binding it, another process (an outgoing connection, say) can take it."""
    if port is not None:
        return start(port)
    for _ in range(PORT_ATTEMPTS - 1):
        try:
            return start(free_port())
        except PortTaken:
            continue
    return start(free_port())


@dataclass
class Emulator:
    name: str
    port: int
    pid: int
    log_path: Path

    @property
    def host_port(self) -> str:
        return f"{HOST}:{self.port}"

    def stop(self) -> None:
        stop_group(self.pid)
        wait_port_free(self.port)


# Ports this process picked. Some are picked well before they are bound (the Remote Config
# simulator's and Firestore's: other parts need their address first), and the kernel may hand a
# released port out again: a later pick for another part must not take one of them.
_PICKED: set[int] = set()


def free_port() -> int:
    """A port free now that this process has not picked before."""
    for _ in range(PORT_PICKS):
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port not in _PICKED:
            break
    _PICKED.add(port)
    return port


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


def wait_port_free(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.1)


def stop_group(pid: int, grace: float = 10.0) -> None:
    """End the process group led by `pid` (TERM, then KILL after `grace` seconds)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_alive(pid):
            _reap(pid)  # our own child lingers as a zombie until it is waited for
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies, dead but not yet reaped by a
    parent that is not us, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
            return True
    return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def require_tools() -> None:
    """Fail with one clear message and an install hint if Java or gcloud is missing."""
    if shutil.which("java") is None:
        raise EmulatorError(
            "java not found: the Firestore and Pub/Sub emulators need Java 11+ "
            "(Debian/Ubuntu: `sudo apt-get install openjdk-17-jre-headless`)"
        )
    if shutil.which("gcloud") is None:
        raise EmulatorError(
            "gcloud not found: install the Google Cloud CLI "
            "(https://cloud.google.com/sdk/docs/install), then "
            "`gcloud components install cloud-firestore-emulator pubsub-emulator beta`"
        )


def program(name: str) -> str:
    """The absolute path of a program on `PATH`, resolved once here so that every later call
    runs that file (not whatever a changed `PATH` finds); one clear error when it is missing."""
    found = shutil.which(name)
    if found is None:
        raise EmulatorError(f"{name} not found on PATH")
    return found


@cache
def sdk_root() -> Path:
    out = subprocess.run(  # nosec B603 -- fixed argv, no shell
        [program("gcloud"), "info", "--format=value(installation.sdk_root)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def spawn(
    cmd: list[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `cmd` as the leader of a new process group, output appended to `log_path`.

    With `env`, the child gets this process's environment plus `env`, and imports the
    checkout's code (`PYTHONPATH`), wherever it runs.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = None if env is None else {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)}
    with log_path.open("ab") as log_file:
        return subprocess.Popen(  # nosec B603 -- argv list built from trusted values, no shell
            cmd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
            cwd=cwd or REPO_ROOT,
            start_new_session=True,
        )


def _spawn(name: str, cmd: list[str], port: int, log_dir: Path) -> Emulator:
    log_path = log_dir / f"{name}.log"
    proc = spawn(cmd, log_path)
    emulator = Emulator(name, port, proc.pid, log_path)
    try:
        wait_ready(f"http://{HOST}:{port}/", name, proc, log_path)
    except BaseException:
        emulator.stop()
        raise
    return emulator


def wait_ready(
    url: str, name: str, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None
) -> None:
    """Poll until `url` answers (no fixed sleeps)."""

    def probe() -> None:
        if proc is not None and proc.poll() is not None:
            said = log.read_text(errors="replace") if log is not None and log.exists() else ""
            error = PortTaken if "already in use" in said.lower() else EmulatorError
            raise error(f"{name} exited with code {proc.returncode} before it was ready")
        httpx.get(url, timeout=1.0)

    retrying = Retrying(
        retry=retry_if_exception_type(httpx.HTTPError),
        stop=stop_after_delay(READY_TIMEOUT_S),
        wait=wait_fixed(0.2),
        reraise=True,
    )
    try:
        retrying(probe)
    except httpx.HTTPError:
        raise EmulatorError(
            f"{name} did not answer on {url} within {READY_TIMEOUT_S:.0f}s"
        ) from None


def start_firestore(
    log_dir: Path, port: int | None = None, functions_emulator: str | None = None
) -> Emulator:
    """The Firestore emulator through its own launcher (the only one with --functions_emulator)."""
    require_tools()
    launcher = sdk_root() / "platform" / "cloud-firestore-emulator" / "cloud_firestore_emulator"

    def start(at: int) -> Emulator:
        cmd = [str(launcher), "--host", HOST, "--port", str(at)]
        if functions_emulator:
            cmd += ["--functions_emulator", functions_emulator]
        return _spawn("firestore", cmd, at, log_dir)

    return on_free_port(start, port)


def start_pubsub(log_dir: Path, port: int | None = None) -> Emulator:
    require_tools()

    def start(at: int) -> Emulator:
        cmd = [
            program("gcloud"),
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port={HOST}:{at}",
            "--quiet",
        ]
        return _spawn("pubsub", cmd, at, log_dir)

    return on_free_port(start, port)


def reset_firestore(host_port: str, project: str) -> None:
    """Delete every document of one project in the emulator."""
    url = f"http://{host_port}/emulator/v1/projects/{project}/databases/(default)/documents"
    httpx.delete(url, timeout=10.0).raise_for_status()
