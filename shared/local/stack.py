"""The whole control plane on one machine: emulators, one functions-framework server per target,
topics with push subscriptions, the Firestore trigger for `featureFlags/{flag}`, a sample app per
environment (a stable and a canary version behind a traffic-splitting router), a tick every
few seconds, and the environments' data seeded by the migrations.

`up` is idempotent and supervises: a running stack is reported, not doubled, and the parts of a
recorded stack that died are restarted on their recorded ports (an emulator restarted empty gets
its topics, subscriptions or triggers back). `down` stops exactly the processes recorded in
`stack.json`, by process group, and checks their ports are free.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.clock import utcnow
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
from shared.local.functions_server import has_target, start_function
from shared.local.phased_release import DAY_S
from shared.local.router import STATUS_PATH, write_routes
from shared.local.state import (
    NOTIFY_FILE,
    NOTIFY_FILE_ENV,
    REMOTE_CONFIG_PART,
    SLOTS,
    STATE_FILE,
    TRAFFIC_MODULE,
    App,
    AppVersion,
    Part,
    Proc,
    Receivers,
    StackState,
    alive,
    environment,
    health,
    owned,
    recorded,
    simulator_urls,
)
from shared.local.subscriptions import default_targets, serve_functions, subscribe
from shared.topics import DASHBOARD_TARGET, FLAG_TRIGGER_TARGET, REMOTE_CONFIG_TARGET

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
    phased_day_seconds: float = DAY_S  # an App Store phased release's day (real by default)


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
    emulator it was started with (docs/LOCAL.md)."""
    body = {
        "eventTrigger": {
            "resource": f"projects/{project}/databases/(default)/documents/{FLAG_DOCUMENTS}",
            "eventType": "providers/cloud.firestore/eventTypes/document.write",
            "service": "firestore.googleapis.com",
        }
    }
    url = f"http://{firestore_host}/emulator/v1/projects/{project}/triggers/{name}"
    httpx.put(url, json=body, timeout=10.0).raise_for_status()


def up(options: Options, say: Say = print) -> StackState:
    """Start the stack; with one recorded, restart its dead parts (a recorded stack none of
    whose parts runs, after a reboot say, is replaced by a new one)."""
    found = recorded(options.local_dir)
    if found is not None:
        parts = health(found)
        if any(part.running for part in parts):
            return _supervise(found, parts, options, say)
        say("the recorded local stack is gone (none of its parts runs): starting a new one")
        for part in parts:
            _clear(part, say)
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
    remote_config_port = free_port()
    env["RELEASECTL_REMOTE_CONFIG_URL"] = f"http://{HOST}:{remote_config_port}"
    say(f"pubsub emulator on {pubsub.host_port}")
    receivers = start_receivers(options.local_dir, logs, started)
    env[NOTIFY_FILE_ENV] = str(local_notify_config(options.local_dir, receivers))
    say(f"notification receivers: http://{HOST}:{receivers.port}, smtp :{receivers.smtp_port}")
    simulators = _start_simulators(
        options.local_dir, plane, logs, started, options.phased_day_seconds
    )
    env.update(simulator_urls(simulators))
    for name, proc in simulators.items():
        say(f"{name} simulator on http://{HOST}:{proc.port}/")
    apps = {name: start_app(name, options.local_dir, logs, started) for name in plane.environments}
    functions: dict[str, Proc] = {}
    if has_target(REMOTE_CONFIG_TARGET):
        governor = start_function(REMOTE_CONFIG_TARGET, env, logs)
        started.pids.append(governor.pid)
        functions[REMOTE_CONFIG_TARGET] = Proc(pid=governor.pid, port=governor.port)
    remote_config = _start_remote_config(remote_config_port, functions, logs, started)
    say(f"remote config simulator on {HOST}:{remote_config.port}")
    flag_target = FLAG_TRIGGER_TARGET if has_target(FLAG_TRIGGER_TARGET) else None
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
        wiring = serve_functions(project, env, logs, default_targets())
        started.pids.extend(s.pid for s in wiring.servers.values())
        functions.update({t: Proc(pid=s.pid, port=s.port) for t, s in wiring.servers.items()})
        if flag_target:
            _register_flag_triggers(firestore.host_port, plane)
    if has_target(DASHBOARD_TARGET):
        server = start_function(DASHBOARD_TARGET, env, logs)
        started.pids.append(server.pid)
        functions[DASHBOARD_TARGET] = Proc(pid=server.pid, port=server.port)
        say(f"release dashboard on {server.url}")
    ticker = _spawn(
        _ticker_command(project, options.tick_seconds), logs / "ticker.log", env, started
    )
    traffic = _spawn(_traffic_command(), logs / "traffic.log", env, started)
    state = StackState(
        local_dir=options.local_dir,
        started_at=utcnow(),
        firestore=Proc(pid=firestore.pid, port=firestore.port),
        pubsub=Proc(pid=pubsub.pid, port=pubsub.port),
        functions=functions,
        apps=apps,
        ticker=Proc(pid=ticker),
        traffic=Proc(pid=traffic),
        receivers=receivers,
        remote_config=remote_config,
        simulators=simulators,
        config_file=config,
        tick_seconds=options.tick_seconds,
    )
    state.save()
    say(f"functions: {', '.join(f'{t} :{p.port}' for t, p in functions.items())}")
    return state


def start_receivers(
    local_dir: Path, logs: Path, started: _Started, port: int | None = None, smtp: int | None = None
) -> Receivers:
    """The loopback Slack/Discord webhooks and SMTP server (`shared.local.inbox`)."""
    smtp_port = smtp or free_port()
    log = logs / "receivers.log"

    def start(at: int) -> Receivers:
        cmd = [sys.executable, "-m", "shared.local.inbox", "--port", str(at)]
        cmd += ["--smtp-port", str(smtp_port), "--dir", str(local_dir / "inbox")]
        proc = spawn(cmd, log, {})
        started.pids.append(proc.pid)
        wait_ready(f"http://{HOST}:{at}/inbox", "notification receivers", proc, log)
        return Receivers(pid=proc.pid, port=at, smtp_port=smtp_port)

    return on_free_port(start, port)


def local_notify_config(local_dir: Path, receivers: Receivers) -> Path:
    """config/notifications.toml with its mail server swapped for the loopback one."""
    from shared.notify.settings import DEFAULT_NOTIFY_FILE, load_notify_config

    text = DEFAULT_NOTIFY_FILE.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^host\s*=.*$", f'host = "{HOST}"', text)
    text = re.sub(r"(?m)^port\s*=.*$", f"port = {receivers.smtp_port}", text)
    text = re.sub(r"(?m)^security\s*=.*$", 'security = "none"', text)
    target = local_dir / NOTIFY_FILE
    target.write_text(text, encoding="utf-8")
    load_notify_config(target)  # what the functions will read: refuse a broken copy here
    return target


def _start_remote_config(
    port: int, functions: dict[str, Proc], logs: Path, started: _Started
) -> Proc:
    """The Remote Config simulator, delivering its update events to the governor's server
    (as Eventarc would): started after that server, so no event finds nobody listening."""
    governor = functions.get(REMOTE_CONFIG_TARGET)
    deliver = ["--deliver-to", f"http://{HOST}:{governor.port}/"] if governor else []
    command = [sys.executable, "-m", "shared.local.remote_config_sim", "--port", str(port)]
    proc = spawn([*command, *deliver], logs / f"{REMOTE_CONFIG_PART}.log", {})
    started.pids.append(proc.pid)
    wait_ready(f"http://{HOST}:{port}/health", "remote config simulator", proc)
    return Proc(pid=proc.pid, port=port)


SIMULATORS_FILE = "simulators.json"


def _start_simulators(
    local_dir: Path, plane: PlaneConfig, logs: Path, started: _Started, day_s: float = DAY_S
) -> dict[str, Proc]:
    """The store simulators, with fresh keys (the private halves in the stack's secrets)."""
    import json

    from shared.local import store_sims

    secrets_dir = local_dir / "secrets"
    configs = store_sims.configs(plane, secrets_dir, day_s)
    if not configs:
        return {}
    path = local_dir / SIMULATORS_FILE
    path.write_text(json.dumps(configs), encoding="utf-8")
    path.chmod(0o600)  # it holds the simulators' made-up private keys
    procs = {}
    for name in configs:
        pid, port = store_sims.start(name, path, logs / f"sim-{name}.log")
        started.pids.append(pid)
        procs[name] = Proc(pid=pid, port=port)
    if "play" in configs:
        url = f"http://{HOST}:{procs['play'].port}/"
        store_sims.store_play_key(plane, secrets_dir, configs["play"]["private_key_pem"], url)
    return procs


def _register_flag_triggers(firestore_host: str, plane: PlaneConfig) -> None:
    for name, cfg in plane.environments.items():
        register_flag_trigger(firestore_host, cfg.project, f"flag-guard-{name}")


def _ticker_command(project: str, tick_seconds: float) -> list[str]:
    return [
        *(sys.executable, "-m", "shared.local.ticker"),
        *("--project", project, "--interval", str(tick_seconds)),
    ]


def _traffic_command() -> list[str]:
    return [sys.executable, "-m", TRAFFIC_MODULE]


def start_app(env: str, local_dir: Path, logs: Path, started: _Started) -> App:
    """An env's sample app: its stable and canary versions, then the router at the env's URL
    (all traffic to stable until a canary step splits it, docs/CANARY.md)."""
    stable, canary = (_start_version(env, slot, local_dir, logs, started) for slot in SLOTS)
    routes_file = local_dir / "apps" / f"{env}.routes.json"
    write_routes(routes_file, 0)
    pid, port = _start_router(env, routes_file, stable, canary, logs, started)
    return App(pid=pid, port=port, routes_file=routes_file, stable=stable, canary=canary)


def _start_version(
    env: str, slot: str, local_dir: Path, logs: Path, started: _Started, port: int | None = None
) -> AppVersion:
    state_file = local_dir / "apps" / f"{env}.{slot}.json"
    log = logs / f"app-{env}-{slot}.log"

    def start(at: int) -> AppVersion:
        proc = spawn(
            [sys.executable, str(SAMPLE_APP), "--port", str(at)],
            log,
            {"STATE_FILE": str(state_file)},
        )
        started.pids.append(proc.pid)
        wait_ready(f"http://{HOST}:{at}/health", f"sample app ({env}, {slot})", proc, log)
        return AppVersion(pid=proc.pid, port=at, state_file=state_file)

    return on_free_port(start, port)


def _start_router(
    env: str,
    routes_file: Path,
    stable: AppVersion,
    canary: AppVersion,
    logs: Path,
    started: _Started,
    port: int | None = None,
) -> tuple[int, int]:
    log = logs / f"router-{env}.log"

    def start(at: int) -> tuple[int, int]:
        cmd = [sys.executable, "-m", "shared.local.router", "--port", str(at)]
        cmd += ["--routes", str(routes_file), "--stable", stable.url, "--canary", canary.url]
        proc = spawn(cmd, log, {})
        started.pids.append(proc.pid)
        wait_ready(f"http://{HOST}:{at}{STATUS_PATH}", f"router ({env})", proc, log)
        return proc.pid, at

    return on_free_port(start, port)


def _clear(part: Part, say: Say) -> None:
    """Stop what is left of a dead part, so that its port is free for its restart: the rest of
    its process group (an emulator's Java outlives its killed wrapper, a server's worker its
    master), or its process if it runs but no longer answers. A recorded pid that is now another
    program's (after a reboot, say) is left alone."""
    if alive(part.pid) and not owned(part):
        say(f"pid {part.pid} ({part.name}) is another program now: left alone")
        return
    stop_group(part.pid)  # no group left: returns at once
    if part.port:
        wait_port_free(part.port)


def _supervise(state: StackState, parts: list[Part], options: Options, say: Say) -> StackState:
    dead = [part for part in parts if not part.running]
    if not dead:
        say(f"a local stack is already running (started {state.started_at:%H:%M:%S})")
        return state
    say(f"the local stack is up but these parts are dead: {', '.join(p.name for p in dead)}")
    for part in dead:
        _clear(part, say)
    try:
        _Restart(state, {p.name for p in dead}, say).run(options.seed)
    finally:
        state.save()  # new pids, also of what a failed restart had started: `down` stops them
    return state


class _Restart:
    """Restarts the dead parts of a recorded stack on their recorded ports, `state` updated as
    each one starts. Emulators come first: the servers and the ticker talk to them."""

    def __init__(self, state: StackState, dead: set[str], say: Say) -> None:
        self.state, self.dead, self.say = state, dead, say
        self.plane = load_config(state.config_file)
        self.project = self.plane.control.project
        # What the stack's processes were started with (plus this process's environment).
        self.env = {**state.environment(), "GOOGLE_CLOUD_PROJECT": self.project}
        self.logs = state.local_dir / "logs"

    def run(self, seed: bool) -> None:
        if self.state.receivers and {"webhooks", "smtp"} & self.dead:
            self._receivers(self.state.receivers)
        if "pubsub" in self.dead:
            self._pubsub()
        if "firestore" in self.dead:
            self._firestore()
        for target in [t for t in self.state.functions if t in self.dead]:
            self._function(target)
        with _environ(self.env):
            if "pubsub" in self.dead:
                ports = {t: p.port for t, p in self.state.functions.items() if p.port}
                subscribe(self.project, ports)
                self.say(
                    "pubsub: topics and push subscriptions with their dead-letter policies made"
                )
            if "firestore" in self.dead:
                self._refill_firestore(seed)
        for env in self.state.apps:
            self._app(env)
        if REMOTE_CONFIG_PART in self.dead and self.state.remote_config is not None:
            self._remote_config()
        if "ticker" in self.dead:
            self._ticker()
        if "traffic" in self.dead:
            self._traffic()
        for name in [n for n in self.state.simulators if f"sim-{n}" in self.dead]:
            self._simulator(name)

    def _pubsub(self) -> None:
        emulator = emulators.start_pubsub(self.logs, self.state.pubsub.port)
        self.state.pubsub = Proc(pid=emulator.pid, port=emulator.port)
        self.say(
            f"restarted the pubsub emulator on :{emulator.port} (pid {emulator.pid}): it starts "
            "empty, so the messages it held (not yet delivered or acknowledged) were lost"
        )

    def _firestore(self) -> None:
        flag = self.state.functions.get(FLAG_TRIGGER_TARGET)
        emulator = emulators.start_firestore(
            self.logs,
            self.state.firestore.port,
            functions_emulator=f"{HOST}:{flag.port}" if flag else None,
        )
        self.state.firestore = Proc(pid=emulator.pid, port=emulator.port)
        self.say(
            f"restarted the firestore emulator on :{emulator.port} (pid {emulator.pid}): "
            "ITS DATA WAS LOST (releases, rollouts, environments, flags, dead letters)"
        )

    def _refill_firestore(self, seed: bool) -> None:
        if FLAG_TRIGGER_TARGET in self.state.functions:
            _register_flag_triggers(self.state.firestore_host, self.plane)
            self.say("firestore: featureFlags triggers registered again")
        # A build is started once per release/env/attempt/step key: the keys of rollouts the
        # empty emulator never saw would stop the same ones, made again, from starting builds.
        shutil.rmtree(builds_dir(self.state.local_dir) / "keys", ignore_errors=True)
        if not seed:
            self.say("firestore: environments not seeded again (--no-seed)")
            return
        from shared.local.seeding import seed as seed_envs

        seed_envs(self.state, self.plane, self.say)

    def _function(self, target: str) -> None:
        port = self.state.functions[target].port
        server = start_function(target, self.env, self.logs, port)
        self.state.functions[target] = Proc(pid=server.pid, port=server.port)
        self.say(
            f"restarted {target} on :{server.port} (pid {server.pid}), where its "
            "subscriptions push: the messages waiting for it are delivered again"
        )

    def _app(self, env: str) -> None:
        """The env's dead versions and router, each on its port (the router keeps its routes:
        a restarted version serves what its state file says, at the same share)."""
        app = self.state.apps[env]
        for slot in [s for s in SLOTS if f"app-{env}-{s}" in self.dead]:
            old = app.slot(slot)
            new = _start_version(env, slot, self.state.local_dir, self.logs, _Started(), old.port)
            app = app.model_copy(update={slot: new})
            self.say(
                f"restarted the {env} sample app's {slot} version on {new.url} (pid {new.pid})"
            )
        if f"router-{env}" in self.dead:
            pid, _ = _start_router(
                env, app.routes_file, app.stable, app.canary, self.logs, _Started(), app.port
            )
            app = app.model_copy(update={"pid": pid})
            self.say(f"restarted the {env} router on {app.url} (pid {pid})")
        self.state.apps[env] = app

    def _receivers(self, old: Receivers) -> None:
        if alive(old.pid):
            stop_group(old.pid)  # one process serves both: restart it whole
            for port in (old.port, old.smtp_port):
                wait_port_free(port)
        self.state.receivers = start_receivers(
            self.state.local_dir, self.logs, _Started(), old.port, old.smtp_port
        )
        self.say(f"restarted the notification receivers (pid {self.state.receivers.pid})")

    def _remote_config(self) -> None:
        old = self.state.remote_config
        if old is None or old.port is None:  # only called for a simulator that ran
            return
        port = old.port
        self.state.remote_config = _start_remote_config(
            port, self.state.functions, self.logs, _Started()
        )
        self.say(
            f"restarted the remote config simulator on :{port}: it starts empty (its template "
            "versions were lost); the next flag change publishes every env's templates again, "
            "or `releasectl flags publish --env E` now"
        )

    def _simulator(self, name: str) -> None:
        from shared.local import store_sims

        port = self.state.simulators[name].port
        config = self.state.local_dir / SIMULATORS_FILE
        pid, port = store_sims.start(name, config, self.logs / f"sim-{name}.log", port)
        self.state.simulators[name] = Proc(pid=pid, port=port)
        self.say(
            f"restarted the {name} simulator on :{port} (pid {pid}): it starts empty (what the "
            "store held is lost; `releasectl mobile status` shows it)"
        )

    def _traffic(self) -> None:
        pid = spawn(_traffic_command(), self.logs / "traffic.log", self.env).pid
        self.state.traffic = Proc(pid=pid)
        self.say(f"restarted the traffic generator (pid {pid})")

    def _ticker(self) -> None:
        command = _ticker_command(self.project, self.state.tick_seconds)
        pid = spawn(command, self.logs / "ticker.log", self.env).pid
        self.state.ticker = Proc(pid=pid)
        self.say(f"restarted the ticker (pid {pid}, every {self.state.tick_seconds:g} s)")


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
    state = recorded(local_dir)
    if state is None:
        say("no local stack recorded: nothing to stop")
        return False
    builds = [int(p.read_text()) for p in (local_dir / "builds").glob("*.pid")]
    for pid in builds:
        if alive(pid):
            stop_group(pid)
    for part in reversed(state.parts()):
        # Also the groups of dead parts: what is left of them (an emulator's Java) still runs.
        if alive(part.pid) and not owned(part):
            say(f"pid {part.pid} ({part.name}) is another program now: left alone")
            continue
        stop_group(part.pid)
    for part in state.parts():
        if part.port:
            wait_port_free(part.port)
    (local_dir / STATE_FILE).unlink()
    say(f"stopped {len(state.pids())} processes of the local stack")
    return True
