"""Run one functions-framework server per function target, as its own process group."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from shared.config import REPO_ROOT
from shared.local.emulators import (
    HOST,
    on_free_port,
    spawn,
    stop_group,
    wait_port_free,
    wait_ready,
)


def has_target(target: str) -> bool:
    """Whether functions/main.py defines `target` yet (targets land in it one by one)."""
    import functions.main

    return hasattr(functions.main, target)


def push_endpoint(port: int, project: str, topic: str) -> str:
    # functions-framework reads the topic (the CloudEvent's source) from the path of a push.
    return f"http://{HOST}:{port}/projects/{project}/topics/{topic}"


@dataclass
class FunctionServer:
    target: str
    port: int
    pid: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def push_endpoint(self, project: str, topic: str) -> str:
        return push_endpoint(self.port, project, topic)

    def stop(self) -> None:
        stop_group(self.pid)
        wait_port_free(self.port)


def start_function(
    target: str, env: dict[str, str], log_dir: Path, port: int | None = None
) -> FunctionServer:
    log_path = log_dir / f"{target}.log"
    cli = Path(sys.executable).parent / "functions-framework"
    source = str(REPO_ROOT / "functions" / "main.py")

    def start(at: int) -> FunctionServer:
        cmd = [str(cli), "--source", source, "--target", target, "--host", HOST, "--port", str(at)]
        proc = spawn(cmd, log_path, env)
        server = FunctionServer(target, at, proc.pid, log_path)
        try:
            # Any HTTP answer (even 400 to a GET without an event) means the server is up.
            wait_ready(server.url + "/", f"function {target}", proc, log_path)
        except BaseException:
            server.stop()
            raise
        return server

    return on_free_port(start, port)
