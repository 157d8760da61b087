"""`releasectl mobile …`: the mobile trains. Changes go through `release-commands` like every
other command; `mobile status` reads what the stores themselves hold."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from shared.adapters import firestore_views as views
from shared.bootstrap import mobile_stores
from shared.cli import context, output
from shared.cli.output import console
from shared.cli.sending import POLL_S, ActorOpt, TimeoutOpt, WaitOpt, build, send
from shared.errors import ConfigError
from shared.mobile.model import Train

app = typer.Typer(help="Mobile release trains: Play and App Store.", no_args_is_help=True)
Release = Annotated[str, typer.Argument(help="Release id (its semver version).")]
PlatformOpt = Annotated[str, typer.Option("--platform", "-p", help="android or ios.")]
TrackOpt = Annotated[
    str, typer.Option("--track", "-t", help="android: internal|closed|production; ios: testflight.")
]
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the train's audit).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")]


def _send(payload: dict[str, Any], wait: bool, timeout: float) -> None:
    command = build(payload)
    send(command, wait=wait, timeout=timeout)
    if wait:
        _follow(payload["release"], payload["platform"], timeout)


def _follow(release: str, platform: str, timeout: float) -> None:
    """Wait until the store answered the train's call; exit 1 if it refused."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        train = next(
            (t for t in views.trains(context.db(), release) if t.platform == platform), None
        )
        if train is not None and train.pending is None:
            if train.reason and train.status is None:
                output.err_console.print(f"[red]refused by the store:[/red] {train.reason}")
                raise typer.Exit(1)
            console.print(f"{platform}: {_where(train)}")
            if train.reason:
                output.err_console.print(f"[red]last store answer:[/red] {train.reason}")
                raise typer.Exit(1)
            return
        time.sleep(POLL_S)
    output.err_console.print(
        f"[red]error:[/red] timed out after {timeout:.0f}s waiting for the store"
    )
    raise typer.Exit(1)


def _where(t: Train) -> str:
    parts = [t.track or "no track", t.status or "-"]
    if t.fraction is not None:
        parts.append(f"{t.fraction:.0%} of users")
    if t.day is not None:
        parts.append(f"day {t.day}")
    return " ".join(parts)


@app.command()
def promote(
    release: Release,
    platform: PlatformOpt,
    track: TrackOpt,
    actor: ActorOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 120,
) -> None:
    """Put the build on a track (android internal → closed → production; ios testflight)."""
    payload = {
        "type": "mobile.promote",
        "release": release,
        "platform": platform,
        "track": track,
        "actor": actor,
    }
    _send(payload, wait, timeout)


@app.command()
def submit(
    release: Release, actor: ActorOpt = None, wait: WaitOpt = False, timeout: TimeoutOpt = 120
) -> None:
    """Submit the iOS build for App Store review."""
    _send(
        {"type": "mobile.submit", "release": release, "platform": "ios", "actor": actor},
        wait,
        timeout,
    )


@app.command("release")
def release_(
    release: Release, actor: ActorOpt = None, wait: WaitOpt = False, timeout: TimeoutOpt = 120
) -> None:
    """After review approved it: start the iOS build's 7-day phased release."""
    _send(
        {"type": "mobile.release", "release": release, "platform": "ios", "actor": actor},
        wait,
        timeout,
    )


def _lever(kind: str, doc: str) -> Any:
    def command(
        release: Release,
        platform: PlatformOpt,
        reason: Reason = "",
        actor: ActorOpt = None,
        wait: WaitOpt = False,
        timeout: TimeoutOpt = 120,
    ) -> None:
        payload = {
            "type": f"mobile.{kind}",
            "release": release,
            "platform": platform,
            "reason": reason,
            "actor": actor,
        }
        _send(payload, wait, timeout)

    command.__doc__ = doc
    return command


app.command("halt")(_lever("halt", "Stop the store handing the build to more users."))
app.command("resume")(_lever("resume", "Resume a halted (Play) or paused (App Store) release."))
app.command("complete")(_lever("complete", "Release the build to every user."))


@app.command()
def status(
    release: Annotated[str | None, typer.Argument(help="Only this release.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """What the stores hold, read from the stores themselves, next to the trains."""
    plane = context.plane()
    if plane.mobile is None:
        raise ConfigError("no mobile apps are configured ([mobile] in environments.toml)")
    stores = mobile_stores(context.settings())
    recorded = views.trains(context.db(), release)
    report: dict[str, Any] = {"trains": recorded}
    if plane.mobile.android is not None:
        report["android"] = {
            "package": plane.mobile.android.package_name,
            "tracks": stores.play().tracks(),
        }
    if plane.mobile.ios is not None:
        builds = sorted({t.build for t in recorded if t.platform == "ios"})
        store = stores.app_store()
        report["ios"] = {
            "app": plane.mobile.ios.app_id,
            "builds": {str(b): store.status(b) for b in builds},
        }
    if as_json:
        output.print_json(report)
        return
    _print(report)


def _print(report: dict[str, Any]) -> None:
    if "android" in report:
        t = output.table(
            f"Google Play · {report['android']['package']}",
            "track",
            "versionCodes",
            "status",
            "userFraction",
            "name",
        )
        for track, releases in sorted(report["android"]["tracks"].items()):
            for r in releases or [{}]:
                fraction = r.get("userFraction")
                t.add_row(
                    track,
                    ",".join(r.get("versionCodes", [])) or "-",
                    r.get("status", "-"),
                    f"{fraction:.0%}" if fraction is not None else "-",
                    r.get("name", ""),
                )
        console.print(t)
    if "ios" in report:
        t = output.table(
            f"App Store Connect · app {report['ios']['app']}",
            "build",
            "TestFlight groups",
            "version state",
            "phasedReleaseState",
            "day",
            "users",
            "days paused",
        )
        for build, view in report["ios"]["builds"].items():
            paused = view.detail.get("totalPauseDuration")
            t.add_row(
                build,
                ", ".join(view.detail.get("groups", [])) or "-",
                view.detail.get("appStoreState", "-"),
                view.status or "-",
                str(view.day) if view.day is not None else "-",
                f"{view.fraction:.0%}" if view.fraction is not None else "-",
                str(paused) if paused is not None else "-",
            )
        console.print(t)
    t = output.table(
        "Trains (as the control plane recorded them)",
        "release",
        "platform",
        "build",
        "where",
        "waiting for",
        "last store refusal",
    )
    for train in report["trains"]:
        t.add_row(
            train.release,
            train.platform,
            str(train.build),
            _where(train),
            train.pending.verb if train.pending else "-",
            train.reason or "",
        )
    console.print(t)
