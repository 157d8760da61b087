"""`releasectl local demo`: a team's day on the local stack, with a timeline.

A push to `main` runs CI and goes live in staging; `release/X.0.0` waits for approval, is
approved and goes live in production; `release/X.1.0` follows; then an operator rolls
production back and the sample app serves X.0.0 again; a bad X.2.0 is rolled back by its smoke
test; in dev, a bad X.4.0 that passes the smoke test goes live and is rolled back by the live
watch once the app reports its failing payments, and X.3.0 serves again. Last, two edits "in
the Firebase console" of production's Remote Config: panicTracking turned off is rolled back,
videoCalls moved to 25 % is adopted into Firestore (`shared.local.demo_flags`). With an env
configured for canary steps and the canary judge, the canary act follows
(`shared.local.canary_demo`; `./deploy.sh local canary` runs it alone on config/canary-demo/).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from shared.adapters import firestore_views as views
from shared.cli import context
from shared.domain.builds import Build
from shared.domain.states import RESTING, State
from shared.domain.workflow import paused_bake
from shared.errors import ConfigError
from shared.gates.settings import SCAN_GATES
from shared.local import demo_flags
from shared.local.build_runner import builds_dir
from shared.local.driving import (
    CI_CONFIG,
    commit_time,
    head_commit,
    push,
    send_command,
    wait_build,
    wait_for,
)
from shared.local.sample_app import serving
from shared.local.state import StackState
from shared.local.traffic import CALLS_PER_WINDOW, report_payments
from shared.security.model import ScanSummary

# Pushes to main run only the CI config's lint step, to stay short. Release branches also run
# the unit tests, the secret scan and the security scans: production's gates require them
# (config/checks.toml), and the timeline shows what each scan found.
MAIN_SKIP = ["secret-scan", "typecheck", "unit-tests", "sast", "dependencies", "sbom"]
RELEASE_SKIP = ["typecheck"]
APPROVER = "demo-approver"
WAIT_S = 300.0
console = Console()


@dataclass
class Timeline:
    rows: list[tuple[str, float, str, bool]] = field(default_factory=list)

    def act(self, name: str, step: Callable[[], str]) -> bool:
        console.print(f"[bold]▶ {name}[/]")
        start = time.monotonic()
        try:
            result, ok = step(), True
        except DemoFailed as exc:
            result, ok = str(exc), False
        self.rows.append((name, time.monotonic() - start, result, ok))
        console.print(f"  {'[green]✓' if ok else '[red]✗'}[/] {result}")
        return ok

    def show(self) -> None:
        table = Table(title="Demo timeline", title_justify="left", header_style="bold")
        for column in ("act", "took", "result"):
            table.add_column(column)
        for name, took, result, ok in self.rows:
            table.add_row(name, f"{took:5.1f}s", f"[{'green' if ok else 'red'}]{result}[/]")
        console.print(table)


class DemoFailed(Exception):
    pass


def _next_major() -> int:
    ids = [d.id for d in context.db().collection("releases").stream()]
    majors = [int(m.group(1)) for i in ids if (m := re.match(r"^(\d+)\.\d+\.\d+$", i))]
    return max(majors, default=0) + 1


def _wait_state(release: str, env: str, wanted: State, still: State | None = None) -> str:
    """Wait for `wanted`; any other resting state but `still` (where it starts) is a failure."""
    deadline, state = time.monotonic() + WAIT_S, None
    while time.monotonic() < deadline:
        rollout = views.read_rollout(context.db(), release, env)
        state = rollout.state if rollout else None
        if state is wanted:
            return f"{release} is {state} in {env}"
        if state in RESTING and state not in (State.AWAITING_APPROVAL, still):
            raise DemoFailed(
                f"{release} ended {state} in {env}: {rollout.reason if rollout else ''}"
            )
        time.sleep(0.3)
    raise DemoFailed(f"{release} in {env} still {state} after {WAIT_S:.0f}s")


def _ci(stack: StackState, branch: str, commit: str) -> str:
    skip = MAIN_SKIP if branch == "main" else RELEASE_SKIP
    build = push(stack, context.settings().project, branch, commit, CI_CONFIG, skip)
    status = wait_build(stack, build, WAIT_S)
    if status != "SUCCESS":
        raise DemoFailed(f"CI build {build} of {branch}: {status} (log: {stack.local_dir}/builds)")
    scans = _scans(stack, build)
    return f"CI build of {branch} passed (skipped here: {', '.join(skip)})" + (
        f"; {scans}" if scans else ""
    )


def _scans(stack: StackState, build_id: str) -> str:
    """What the build's security scans found, from the summaries it kept (docs/SECURITY.md)."""
    path = builds_dir(stack.local_dir) / f"{build_id}.json"
    build = Build.model_validate_json(path.read_text(encoding="utf-8"))
    found = [build.step_output(kind) for kind in SCAN_GATES]
    return "; ".join(ScanSummary.model_validate_json(raw).headline() for raw in found if raw)


def _serves(stack: StackState, env: str, version: str) -> str:
    url = stack.apps[env].url
    found = serving(url)
    if found != version:
        raise DemoFailed(f"{url} serves {found}, expected {version}")
    return f"{url}/health serves {version}"


def run(stack: StackState) -> bool:
    commit, major = head_commit(), _next_major()
    main_release = f"0.0.0-main.{commit[:7]}"
    first, second, bad = f"{major}.0.0", f"{major}.1.0", f"{major}.2.0"
    good, worse = f"{major}.3.0", f"{major}.4.0"  # dev: the live watch
    t = Timeline()
    acts: list[tuple[str, Callable[[], str]]] = [
        ("push to main: CI", lambda: _ci(stack, "main", commit)),
        (
            f"{main_release} → staging live",
            lambda: _wait_state(main_release, "staging", State.LIVE),
        ),
        (f"push release/{first}: CI", lambda: _ci(stack, f"release/{first}", commit)),
        (
            f"{first} waits for approval",
            lambda: _wait_state(first, "production", State.AWAITING_APPROVAL),
        ),
        (f"{APPROVER} approves {first}", lambda: _approve(first)),
        (f"{first} → production live", lambda: _live_after_pause(first)),
        (f"push release/{second}: CI", lambda: _ci(stack, f"release/{second}", commit)),
        (f"{APPROVER} approves {second}", lambda: _approve_when_waiting(second)),
        (f"{second} → production live", lambda: _live_after_pause(second)),
        ("operator rolls production back", lambda: _rollback(second)),
        (f"production serves {first} again", lambda: _serves(stack, "production", first)),
        (f"a bad {bad} (payments fail) is approved", lambda: _bad_release(bad, commit)),
        (
            f"its smoke test rolls {bad} back, no command",
            lambda: _wait_state(bad, "production", State.ROLLED_BACK),
        ),
        (f"production still serves {first}", lambda: _serves(stack, "production", first)),
        (f"{good} → dev live", lambda: _dev_live(good, commit, "ok")),
        (
            f"a bad {worse} (payments fail) passes dev's /health check: live",
            lambda: _dev_live(worse, commit, "errors"),
        ),
        (
            f"the app reports failing payments: {worse} rolled back while live, no command",
            lambda: _payments_fail_while_live(stack, worse),
        ),
        (f"dev serves {good} again", lambda: _serves(stack, "dev", good)),
        *demo_flags.acts(stack),
        *_mobile_acts(stack, f"{major}.5.0", commit, major),
        *canary_acts(stack, major, commit),
    ]
    ok = all(t.act(name, step) for name, step in acts)
    t.show()
    console.print(
        "next: [bold]releasectl status[/], [bold]releasectl history "
        f"{second}[/], logs in {stack.local_dir / 'logs'}"
    )
    return ok


def canary_acts(stack: StackState, major: int, commit: str) -> list[tuple[str, Callable[[], str]]]:
    """The canary act (docs/CANARY.md), when an env of the stack's config has canary steps and
    the canary judge; `releasectl local demo --canary` runs it alone."""
    from shared.local import canary_demo

    def guarded(step: Callable[[], str]) -> Callable[[], str]:
        def run() -> str:
            try:
                return step()
            except canary_demo.CanaryDemoFailed as exc:
                raise DemoFailed(str(exc)) from None

        return run

    acts = canary_demo.acts(stack, major, send_command, commit)
    return [(name, guarded(step)) for name, step in acts]


def run_canary(stack: StackState) -> bool:
    """The canary act alone (`./deploy.sh local canary` starts a stack configured for it)."""
    acts = canary_acts(stack, _next_major(), head_commit())
    if not acts:
        raise ConfigError(
            "no environment of this stack's config has canary steps and the canary judge: "
            "`./deploy.sh local canary` starts a stack configured for the canary act "
            "(config/canary-demo/, docs/CANARY.md)"
        )
    t = Timeline()
    ok = all(t.act(name, step) for name, step in acts)
    t.show()
    return ok


def _mobile_acts(
    stack: StackState, release: str, commit: str, major: int
) -> list[tuple[str, Callable[[], str]]]:
    """The mobile act (docs/MOBILE.md), when the stack runs the store simulators."""
    from shared.local import mobile_demo as m

    if not stack.simulators or context.plane().mobile is None:
        return []

    def guarded(step: Callable[[], str]) -> Callable[[], str]:
        def run() -> str:
            try:
                return step()
            except m.MobileDemoFailed as exc:
                raise DemoFailed(str(exc)) from None

        return run

    def staging() -> str:
        _promote(release, commit, "staging", "ok", m.builds_of(major))
        _wait_state(release, "staging", State.LIVE)
        return m.testing(release)

    def approved() -> str:
        _promote(release, commit, "production", "ok", create=False)
        sent = _approve_when_waiting(release)
        wait_for(f"the approval of {release} recorded", approval_recorded, DemoFailed, WAIT_S)
        return f"{sent}; approval recorded"  # store steps need the approval recorded

    def approval_recorded() -> bool:
        rollout = views.read_rollout(context.db(), release, "production")
        step = rollout.steps.get("approval") if rollout else None
        return step is not None and step.status == "approved"

    return [
        (f"mobile {release} live in staging → Play internal, TestFlight", guarded(staging)),
        (f"{APPROVER} approves {release} for production", approved),
        (
            f"{release} → Play production 10 %, App Store phased release day 1",
            guarded(lambda: m.to_production(stack, release, send_command)),
        ),
        (f"{release}'s crash-free users drop below 99 %", guarded(lambda: m.crash(release))),
        (
            "Play halted, App Store paused, kill switch on, no command",
            guarded(lambda: m.halted(release)),
        ),
    ]


def _promote(
    release: str,
    commit: str,
    env: str,
    mode: str,
    artifacts: dict[str, str] | None = None,
    create: bool = True,
) -> None:
    """Create `release` (the sample app in `mode`) and promote it to `env`."""
    if create:
        committed = commit_time(commit)  # as `releasectl release create --committed-at` would
        send_command(
            sender="demo-dev",
            type="release.create",
            version=release,
            commit=commit,
            branch="main",
            author="demo-dev",
            artifacts={"sample-app.mode": mode, **(artifacts or {})},
            **({"committed_at": committed} if committed else {}),
        )
    # Pub/Sub keeps no order: promote once it exists
    wait_for(
        f"release {release} created",
        lambda: views.release_view(context.db(), release),
        DemoFailed,
        WAIT_S,
        interval=0.2,
    )
    send_command(type="release.promote", release=release, env=env, actor="demo-dev")


def _bad_release(release: str, commit: str) -> str:
    _promote(release, commit, "production", "errors")
    _wait_state(release, "production", State.AWAITING_APPROVAL)
    return _approve(release)


def _dev_live(release: str, commit: str, mode: str) -> str:
    _promote(release, commit, "dev", mode)
    return _wait_state(release, "dev", State.LIVE)


def _payments_fail_while_live(stack: StackState, release: str) -> str:
    """The app counts its failing payments and reports them: dev's live watch (live_breach =
    "rollback") confirms the breach and rolls the release back."""
    rollout = views.read_rollout(context.db(), release, "dev")
    if rollout is None:
        raise DemoFailed(f"{release} has no rollout in dev")
    failed = report_payments(stack.apps["dev"].url, "dev", release, rollout.state_since, 3)
    rolled = _wait_state(release, "dev", State.ROLLED_BACK, still=State.LIVE)
    return f"{failed}/{CALLS_PER_WINDOW} payments failed per window; {rolled}"


def _approve(release: str, reason: str = "demo: looks good") -> str:
    send_command(
        type="release.approve",
        release=release,
        env="production",
        approver=APPROVER,
        reason=reason,
    )
    return f"release.approve sent for {release}"


def _live_after_pause(release: str) -> str:
    """The demo stack sends production no traffic, so its bake ends inconclusive and waits for
    a person (`on_inconclusive = "pause"`): the approver takes it live, as one would after
    looking at the release by hand."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        rollout = views.read_rollout(context.db(), release, "production")
        if rollout is not None and rollout.state is State.LIVE:
            return f"{release} is live in production"
        if rollout is not None and paused_bake(rollout):
            _approve(release, "demo: no traffic on the demo stack to judge; checked by hand")
            live = _wait_state(release, "production", State.LIVE)
            return f"bake inconclusive (no traffic): paused; {APPROVER} approved it; {live}"
        if rollout is not None and rollout.state in RESTING - {State.AWAITING_APPROVAL}:
            raise DemoFailed(f"{release} ended {rollout.state} in production: {rollout.reason}")
        time.sleep(0.3)
    raise DemoFailed(f"{release} in production neither live nor paused after {WAIT_S:.0f}s")


def _approve_when_waiting(release: str) -> str:
    _wait_state(release, "production", State.AWAITING_APPROVAL)
    return _approve(release)


def _rollback(release: str) -> str:
    send_command(
        type="release.rollback",
        env="production",
        reason="demo: operator rollback",
        actor="demo-operator",
    )
    return _wait_state(release, "production", State.ROLLED_BACK, still=State.LIVE)
