"""The whole control plane on one machine: emulators, one functions-framework server per target,
topics with push subscriptions, the Firestore trigger for `featureFlags/{flag}`, a sample app per
environment, a tick every few seconds, and the environments' data seeded by the migrations.

`up` is idempotent (a running stack is reported, not doubled); `down` stops exactly the
processes recorded in `stack.json`, by process group, and checks their ports are free.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from shared.config import DEFAULT_CONFIG_FILE, REPO_ROOT, PlaneConfig, load_config
from shared.local import emulators
from shared.local.build_runner import builds_dir
from shared.local.emulators import (
    HOST,
    free_port,
    on_free_port,
    spawn,
    stop_group,
    wait_port_free,
    wait_ready,
)
from shared.local.functions_server import start_function
from shared.local.state import App, Proc, StackState, alive, environment, load
from shared.local.wiring import wire_functions
from shared.topics import FLAG_TRIGGER_TARGET, PUBSUB_TRIGGERS

SAMPLE_APP = REPO_ROOT / "examples" / "sample-app" / "app.py"
FLAG_DOCUMENTS = "featureFlags/{flag}"
Say = Callable[[str], None]


@dataclass
class Options:
    local_dir: Path
    config_file: Path = DEFAULT_CONFIG_FILE
    bake_minutes: int | None = 0  # the demo does not wait; None keeps the config's values
    tick_seconds: float = 3.0
    seed: bool = True


@dataclass
class _Started:
    """Process groups started so far, so a failed `up` stops them all."""

    pids: list[int] = field(default_factory=list)

    def stop(self) -> None:
        for pid in reversed(self.pids):
            stop_group(pid)


def local_config(source: Path, target: Path, bake_minutes: int | None) -> Path:
    """The config the stack runs with: the source, bakes shortened for the demo if asked."""
    text = source.read_text(encoding="utf-8")
    if bake_minutes is not None:
        text = re.sub(r"(?m)^bake_minutes\s*=.*$", f"bake_minutes = {bake_minutes}", text)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    load_config(target)  # a broken source fails here, before anything starts
    return target


def _spawn(cmd: list[str], log: Path, env: dict[str, str], started: _Started) -> int:
    proc = spawn(cmd, log, env)
    started.pids.append(proc.pid)
    return proc.pid


def register_flag_trigger(firestore_host: str, project: str, name: str) -> None:
    """Ask the Firestore emulator to deliver `featureFlags/{flag}` writes to the functions
    emulator it was started with (DESIGN.md §3)."""
    body = {
        "eventTrigger": {
            "resource": f"projects/{project}/databases/(default)/documents/{FLAG_DOCUMENTS}",
            "eventType": "providers/cloud.firestore/eventTypes/document.write",
            "service": "firestore.googleapis.com",
        }
    }
    url = f"http://{firestore_host}/emulator/v1/projects/{project}/triggers/{name}"
    httpx.put(url, json=body, timeout=10.0).raise_for_status()


def _has_target(target: str) -> bool:
    import functions.main

    return hasattr(functions.main, target)


def up(options: Options, say: Say = print) -> StackState:
    running = load(options.local_dir)
    if running is not None:
        say(f"a local stack is already running (started {running.started_at:%H:%M:%S})")
        return running
    emulators.require_tools()
    logs = options.local_dir / "logs"
    # A new stack starts from empty emulators: the last stack's build records (a build is
    # started once per release/env/attempt/step key) and logs would only mislead it.
    for stale in (builds_dir(options.local_dir), logs):
        shutil.rmtree(stale, ignore_errors=True)
    config = local_config(
        options.config_file, options.local_dir / "environments.toml", options.bake_minutes
    )
    plane = load_config(config)
    started = _Started()
    try:
        state = _start(options, plane, config, logs, started, say)
    except BaseException:
        say("start-up failed: stopping what was started")
        started.stop()
        raise
    if options.seed:
        from shared.local.seeding import seed

        with _environ(state.environment()):
            seed(state, plane, say)
    return state


def _start(
    options: Options, plane: PlaneConfig, config: Path, logs: Path, started: _Started, say: Say
) -> StackState:
    project = plane.control.project
    pubsub = emulators.start_pubsub(logs)
    started.pids.append(pubsub.pid)
    firestore_port = free_port()
    env = {
        **environment(options.local_dir, f"{HOST}:{firestore_port}", pubsub.host_port, config),
        "GOOGLE_CLOUD_PROJECT": project,
    }
    say(f"pubsub emulator on {pubsub.host_port}")
    apps = {name: _start_app(name, options.local_dir, logs, started) for name in plane.environments}
    functions: dict[str, Proc] = {}
    flag_target = FLAG_TRIGGER_TARGET if _has_target(FLAG_TRIGGER_TARGET) else None
    if flag_target:
        server = start_function(flag_target, env, logs)
        started.pids.append(server.pid)
        functions[flag_target] = Proc(pid=server.pid, port=server.port)
    firestore = emulators.start_firestore(
        logs,
        firestore_port,
        functions_emulator=f"{HOST}:{functions[flag_target].port}" if flag_target else None,
    )
    started.pids.append(firestore.pid)
    say(
        f"firestore emulator on {firestore.host_port} (UI-less; REST at http://{firestore.host_port})"
    )
    with _environ(env):
        targets = [t for t in PUBSUB_TRIGGERS.values() if _has_target(t)]
        wiring = wire_functions(project, env, logs, targets)
        started.pids.extend(s.pid for s in wiring.servers.values())
        functions.update({t: Proc(pid=s.pid, port=s.port) for t, s in wiring.servers.items()})
        if flag_target:
            for name, cfg in plane.environments.items():
                register_flag_trigger(firestore.host_port, cfg.project, f"flag-guard-{name}")
    ticker = _spawn(
        [
            sys.executable,
            "-m",
            "shared.local.ticker",
            "--project",
            project,
            "--interval",
            str(options.tick_seconds),
        ],
        logs / "ticker.log",
        env,
        started,
    )
    state = StackState(
        local_dir=options.local_dir,
        started_at=datetime.now(UTC),
        firestore=Proc(pid=firestore.pid, port=firestore.port),
        pubsub=Proc(pid=pubsub.pid, port=pubsub.port),
        functions=functions,
        apps=apps,
        ticker=Proc(pid=ticker),
        config_file=config,
    )
    state.save()
    say(f"functions: {', '.join(f'{t} :{p.port}' for t, p in functions.items())}")
    return state


def _start_app(env: str, local_dir: Path, logs: Path, started: _Started) -> App:
    state_file = local_dir / "apps" / f"{env}.json"
    log = logs / f"app-{env}.log"

    def start(port: int) -> App:
        proc = spawn(
            [sys.executable, str(SAMPLE_APP), "--port", str(port)],
            log,
            {"STATE_FILE": str(state_file)},
        )
        started.pids.append(proc.pid)
        wait_ready(f"http://{HOST}:{port}/health", f"sample app ({env})", proc, log)
        return App(pid=proc.pid, port=port, state_file=state_file)

    return on_free_port(start, None)


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Point this process's Google clients at the stack's emulators while wiring it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def down(local_dir: Path, say: Say = print) -> bool:
    """Stop every process the stack recorded (and any build it is still running)."""
    path = local_dir / "stack.json"
    if not path.exists():
        say("no local stack recorded: nothing to stop")
        return False
    state = StackState.model_validate_json(path.read_text(encoding="utf-8"))
    builds = [int(p.read_text()) for p in (local_dir / "builds").glob("*.pid")]
    for pid in [*builds, *reversed(state.pids())]:
        if alive(pid):
            stop_group(pid)
    ports = [state.firestore.port, state.pubsub.port]
    ports += [p.port for p in state.functions.values() if p.port] + [
        a.port for a in state.apps.values()
    ]
    for port in ports:
        if port:
            wait_port_free(port)
    path.unlink()
    say(f"stopped {len(state.pids())} processes of the local stack")
    return True
