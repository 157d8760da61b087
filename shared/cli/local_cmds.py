"""`releasectl local up|down|status|push|demo`: the whole control plane on this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from shared.cli import context
from shared.cli.output import console, err_console, table
from shared.config import DEFAULT_CONFIG_FILE
from shared.errors import ControlPlaneError
from shared.local.state import Part, StackState, health, load, local_dir_from_env, recorded
from shared.topics import DASHBOARD_TARGET

app = typer.Typer(help="Run the control plane locally against the emulators.", no_args_is_help=True)
LocalDir = Annotated[
    Path | None,
    typer.Option("--local-dir", envvar="RELEASECTL_LOCAL_DIR", help="State, logs (.local/)."),
]


def _dir(local_dir: Path | None) -> Path:
    return (local_dir or local_dir_from_env()).resolve()


def _stack(local_dir: Path | None) -> StackState:
    stack = load(_dir(local_dir))
    if stack is None:
        if recorded(_dir(local_dir)) is not None:  # recorded, but an emulator is dead
            raise ControlPlaneError(
                "the local stack's emulators are not running: `releasectl local status` shows "
                "what is dead, `releasectl local up` restarts it"
            )
        raise ControlPlaneError("no local stack is running: start it with `./deploy.sh local`")
    return stack


@app.command()
def up(
    local_dir: LocalDir = None,
    bake_minutes: Annotated[int, typer.Option(min=0, help="Bake length for every env.")] = 0,
    tick_seconds: Annotated[float, typer.Option(min=0.5, help="Monitoring tick period.")] = 3.0,
    seed: Annotated[bool, typer.Option(help="Run the migrations in every env.")] = True,
    phased_day_seconds: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="How long a day of an App Store phased release lasts in the simulator "
            "(default: a real day).",
        ),
    ] = 86_400.0,
) -> None:
    """Start the emulators, the functions, the sample apps and the ticker (once); on a running
    stack, restart the parts that died, on their ports."""
    from shared.local.stack import Options
    from shared.local.stack import up as start

    options = Options(
        local_dir=_dir(local_dir),
        config_file=context.settings().config_file,
        bake_minutes=bake_minutes,
        tick_seconds=tick_seconds,
        seed=seed,
        phased_day_seconds=phased_day_seconds,
    )
    stack = start(options, say=lambda m: console.print(f"[dim]·[/] {m}"))
    _next_steps(stack)


def _next_steps(stack: StackState) -> None:
    apps = ", ".join(f"{env} {app.url}" for env, app in stack.apps.items())
    board = stack.functions.get(DASHBOARD_TARGET)
    sims = ", ".join(f"{name} http://127.0.0.1:{p.port}" for name, p in stack.simulators.items())
    logs, builds = stack.local_dir / "logs", stack.local_dir / "builds"
    console.print(
        "\n[bold green]local stack is up[/]\n"
        + (f"  release dashboard   http://127.0.0.1:{board.port}/\n" if board else "")
        + f"  firestore emulator  http://{stack.firestore_host}\n"
        f"  pubsub emulator     {stack.pubsub_host}\n"
        f"  sample apps         {apps}\n"
        + (f"  store simulators    {sims}\n" if sims else "")
        + f"  logs                {logs} (builds: {builds})\n"
        "[bold]try next[/]\n"
        "  releasectl status                     what runs where\n"
        "  releasectl local demo                 push → staging → production → rollback\n"
        "  releasectl local push --branch main   run CI on this checkout as a push would\n"
        "  ./deploy.sh local down                stop everything this stack started"
    )


@app.command()
def down(local_dir: LocalDir = None) -> None:
    """Stop exactly the processes the local stack started."""
    from shared.local.stack import down as stop

    stop(_dir(local_dir), say=console.print)


@app.command("status")
def stack_status(
    local_dir: LocalDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")] = False,
) -> None:
    """Each part of the local stack, running or dead, and where; exits 1 if one is dead."""
    directory = _dir(local_dir)
    stack = recorded(directory)
    if stack is None:
        if as_json:
            print(json.dumps({"recorded": False, "running": False, "parts": []}, indent=2))
        err_console.print(
            f"no local stack is recorded in {directory}: start one with `./deploy.sh local`"
        )
        raise typer.Exit(1)
    parts = health(stack)
    running = all(part.running for part in parts)
    if as_json:
        # The recorded stack's fields as before, plus what scripts check: each part's status.
        body = {**stack.model_dump(mode="json"), "recorded": True, "running": running}
        print(json.dumps({**body, "parts": [p.model_dump(mode="json") for p in parts]}, indent=2))
    else:
        _show_parts(parts)
    if not running:
        if not as_json:
            dead = ", ".join(part.name for part in parts if not part.running)
            console.print(f"[bold red]dead:[/] {dead}: `releasectl local up` restarts them")
        raise typer.Exit(1)
    if not as_json:
        _next_steps(stack)


def _show_parts(parts: list[Part]) -> None:
    shown = table("local stack", "part", "kind", "status", "pid", "port", "url")
    for part in parts:
        status = "[green]running[/]" if part.running else "[bold red]dead[/]"
        port = str(part.port) if part.port else "-"
        shown.add_row(part.name, part.kind, status, str(part.pid), port, part.url or "-")
    console.print(shown)


@app.command()
def push(
    branch: Annotated[str, typer.Option(help="Branch the push is to.")] = "main",
    commit: Annotated[str | None, typer.Option(help="Commit SHA (default: HEAD).")] = None,
    config: Annotated[Path, typer.Option(help="CI build config.")] = Path("cloudbuild/ci.yaml"),
    skip: Annotated[list[str] | None, typer.Option(help="Step id not to run locally.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the CI build to finish.")] = True,
    follow: Annotated[
        bool,
        typer.Option(
            help="After a green build of main or release/X.Y.Z, follow the rollout it starts "
            "until it is live, awaits approval or fails (exit 1 if it fails)."
        ),
    ] = True,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the build and the rollout.")
    ] = 900,
    local_dir: LocalDir = None,
) -> None:
    """Run the CI build on this checkout as a push to BRANCH would (tag `ci`)."""
    import time

    from shared.adapters import firestore_views as views
    from shared.cli.sending import follow as follow_rollout
    from shared.domain.workflow import branch_release
    from shared.local.driving import head_commit, wait_build
    from shared.local.driving import push as run_ci

    stack = _stack(local_dir)
    path = config if config.is_absolute() else DEFAULT_CONFIG_FILE.parent.parent / config
    if not path.exists():
        err_console.print(f"[red]error:[/red] no build config {config}")
        raise typer.Exit(2)
    sha = commit or head_commit()
    target = branch_release(branch, sha)
    before = views.read_rollout(context.db(), *target) if target and follow else None
    deadline = time.monotonic() + timeout
    build_id = run_ci(stack, context.settings().project, branch, sha, path, skip or [])
    console.print(
        f"CI build {build_id} for {branch} (log: {stack.local_dir / 'builds'}/{build_id}.log)"
    )
    if not wait:
        return
    status = wait_build(stack, build_id, timeout)
    console.print(f"CI build {build_id}: {status}")
    if status != "SUCCESS":
        raise typer.Exit(1)
    if target is not None and follow:
        follow_rollout(*target, deadline, after_attempt=before.attempt if before else 0)


@app.command()
def demo(
    local_dir: LocalDir = None,
    canary: Annotated[
        bool, typer.Option("--canary", help="Only the canary act (docs/CANARY.md).")
    ] = False,
) -> None:
    """Push to main → staging; release/X.Y.Z → approval → production, twice; then roll back."""
    from shared.local.demo import run, run_canary

    stack = _stack(local_dir)
    if not (run_canary(stack) if canary else run(stack)):
        raise typer.Exit(1)


@app.command()
def inbox(
    local_dir: LocalDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")] = False,
) -> None:
    """What the local Slack, Discord and e-mail receivers got, oldest first."""
    from shared.local.inbox import Inbox

    directory = _dir(local_dir)
    if recorded(directory) is None:
        err_console.print(
            f"no local stack is recorded in {directory}: start one with `./deploy.sh local`"
        )
        raise typer.Exit(1)
    notices = Inbox(directory / "inbox").read()
    if as_json:
        print(json.dumps({"notices": [n.model_dump(mode="json") for n in notices]}, indent=2))
        return
    shown = table("Notifications received", "at", "channel", "title")
    for n in notices:
        shown.add_row(n.received_at.strftime("%H:%M:%S"), n.channel, Text(n.title))
    console.print(shown)
