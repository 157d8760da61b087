"""The demo's canary act (`releasectl local demo`, docs/CANARY.md), on the first env whose
config has canary steps and the canary judge: a good release goes 10 → 50 → 100 % while the
app's users call the env (the traffic generator, `shared.local.traffic`) and each step's judge
compares it with the stable release; then a release whose chat API is 30 % slower, still well
inside the absolute latency budget, passes the thresholds, is found worse than stable by the
judge and aborted at 10 %, and the stable release serves 100 % again. Every check reads what
the router served, over HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from shared.adapters import firestore_views as views
from shared.cli import context
from shared.domain.model import Rollout
from shared.domain.states import RESTING, State
from shared.gates.checks_file import load_for
from shared.local.driving import wait_for
from shared.local.state import StackState
from shared.local.traffic import Traffic

WAIT_S = 300.0
Command = Callable[..., None]


class CanaryDemoFailed(Exception):
    pass


def canary_env() -> str | None:
    """The first env with canary steps and the judge on (None: the act does not apply)."""
    plane = context.plane()
    checks = load_for(plane)
    for name, cfg in plane.environments.items():
        if cfg.canary and checks.env(name).monitoring.judge.enabled:
            return name
    return None


class CanaryDemo:
    def __init__(self, stack: StackState, env: str, command: Command, commit: str) -> None:
        self.stack, self.env, self.command, self.commit = stack, env, command, commit
        self.url = stack.apps[env].url
        self.window = load_for(context.plane()).env(env).monitoring.window_seconds

    def rollout(self, release: str) -> Rollout | None:
        return views.read_rollout(context.db(), release, self.env)

    def _promote(self, release: str, mode: str) -> None:
        self.command(
            sender="demo-dev",
            type="release.create",
            version=release,
            commit=self.commit,
            branch="main",
            author="demo-dev",
            artifacts={"sample-app.mode": mode},
        )
        self._until(f"release {release} created", lambda: views.release_view(context.db(), release))
        self.command(type="release.promote", release=release, env=self.env, actor="demo-dev")

    def _until(self, what: str, check: Callable[[], Any]) -> Any:
        return wait_for(what, check, CanaryDemoFailed, WAIT_S, interval=0.2)

    def _resting(self, release: str) -> Rollout | None:
        r = self.rollout(release)
        return r if r is not None and r.state in RESTING else None

    def stable(self, release: str) -> str:
        """A stable release to compare with: the env's first serves all at once."""
        doc = context.db().document(f"environments/{self.env}").get().to_dict() or {}
        serving = (doc.get("current") or {}).get("release")
        if serving:
            return f"{self.env} already serves {serving}: it is the stable one"
        self._promote(release, "ok")
        ended = self._until(f"{release} in {self.env}", lambda: self._resting(release))
        if ended.state is not State.LIVE:
            raise CanaryDemoFailed(f"{release} ended {ended.state}: {ended.reason}")
        return f"{release} live in {self.env} (its first release: no canary steps)"

    def _canary(self, release: str, mode: str) -> tuple[Rollout, list[int], Traffic]:
        """Promote `release` and call the env as its users would until the rollout rests;
        also the canary shares seen on the way."""
        self._promote(release, mode)
        self._until(f"{release} baking in {self.env}", lambda: self._step(release) is not None)
        shares: list[int] = []
        traffic = Traffic(self.url, self.env, self.window)

        def done() -> bool:
            share = self._step(release)
            if share is not None and share not in shares:
                shares.append(share)
            return self._resting(release) is not None

        if not traffic.until(done, WAIT_S):
            raise CanaryDemoFailed(f"{release} still not resting after {WAIT_S:.0f}s of traffic")
        ended = self._resting(release)
        if ended is None:  # done() saw it resting; a rollout never leaves a resting state
            raise CanaryDemoFailed(f"{release} in {self.env} left its resting state")
        return ended, shares, traffic

    def _step(self, release: str) -> int | None:
        r = self.rollout(release)
        step = r.steps.get("canary") if r is not None else None
        if r is None or step is None or r.state is not State.BAKING:
            return None
        return int(step.detail.get("percent", 0))

    def good(self, release: str) -> str:
        ended, shares, traffic = self._canary(release, "ok")
        if ended.state is not State.LIVE or shares[:2] != [10, 50]:
            raise CanaryDemoFailed(f"{release} ended {ended.state} after {shares}: {ended.reason}")
        served = self.served(20)
        if set(served) != {release}:
            raise CanaryDemoFailed(f"after the last step {self.url} served {dict(served)}")
        calls = sum(len(w.latencies_ms) for w in traffic.by_window().values())
        return (
            f"10 % → 50 % → 100 %, the judge passing each step ({calls} calls); "
            f"{release} live, {self.url} serves it to all"
        )

    def slower(self, release: str) -> str:
        ended, shares, _ = self._canary(release, "slower")
        canary = ended.steps.get("canary")
        if ended.state is not State.ROLLED_BACK or canary is None or shares != [10]:
            raise CanaryDemoFailed(f"{release} ended {ended.state} after {shares}: {ended.reason}")
        bake = ended.steps["bake"]
        judge = bake.detail.get("judge") or {}
        # a threshold breach keeps its own summary; this one is the judge's alone
        by_judge = "canary judge failed the release" in str(bake.detail.get("summary"))
        if judge.get("verdict") != "fail" or not by_judge:
            raise CanaryDemoFailed(f"{release} rolled back, not by the judge: {ended.reason}")
        latency: dict[str, Any] = next(
            (m for m in judge.get("metrics", []) if m.get("metric") == "api_p95_latency"), {}
        )
        return (
            f"aborted at 10 %: the thresholds passed it, the judge did not (api p95 "
            f"{latency.get('class')}, mean ratio {latency.get('meanRatio', 0):.2f}, "
            f"p {latency.get('p', 1):.1g}, {latency.get('canaryWindows')} windows a side)"
        )

    def served(self, calls: int) -> Counter[str]:
        seen = Traffic(self.url, self.env, self.window).calls(calls, workers=2).by_window()
        served: Counter[str] = Counter()
        for (_, version), window in seen.items():  # the calls may span windows
            served[version] += len(window.latencies_ms)
        return served

    def serves_again(self, release: str) -> str:
        served = self.served(30)
        if set(served) != {release}:
            raise CanaryDemoFailed(f"{self.url} served {dict(served)}, expected {release} only")
        return f"{self.url}: {served[release]} of 30 calls served by {release}"


def acts(
    stack: StackState, major: int, command: Command, commit: str
) -> list[tuple[str, Callable[[], str]]]:
    env = canary_env()
    if env is None:
        return []
    demo = CanaryDemo(stack, env, command, commit)
    base, good, slower = f"{major}.6.0", f"{major}.7.0", f"{major}.8.0"
    return [
        (f"a stable release in {env}", lambda: demo.stable(base)),
        (f"{good}: a canary in {env}, judged against stable", lambda: demo.good(good)),
        (f"{slower}: API 30 % slower, under the latency budget", lambda: demo.slower(slower)),
        (f"{env} serves {good} to all again", lambda: demo.serves_again(good)),
    ]
