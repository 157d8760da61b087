"""Canary steps end to end on a local stack started with the canary demo's config
(config/canary-demo/: dev with `canary = [10, 50]`, 15-second steps, one-second windows, the
judge on): the router really splits the users' calls, the traffic generator reports each
version's windows, and the judge decides. These are the demo's canary act itself
(`shared.local.canary_demo`), driven step by step."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import datetime

import pytest

from shared.cli import context
from shared.local.canary_demo import CanaryDemo
from shared.local.driving import head_commit, send_command
from shared.local.router import STATUS_PATH
from shared.local.sample_app import canary_share, serving
from shared.local.stack import Options, down, up
from shared.local.state import StackState, health
from tests.e2e.conftest import REPO

CONFIG = REPO / "config" / "canary-demo"
CACHED = (context.settings, context.db, context.publisher)
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    local_dir = tmp_path_factory.mktemp("canary-stack")
    config = CONFIG / "environments.toml"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RELEASECTL_CHECKS_FILE", str(CONFIG / "checks.toml"))
        mp.setenv("RELEASECTL_CONFIG_FILE", str(config))
        for cached in CACHED:
            cached.cache_clear()
        state = up(Options(local_dir=local_dir, config_file=config, tick_seconds=1.0), say=print)
        for key, value in {
            **state.environment(),
            "GOOGLE_CLOUD_PROJECT": "demo-release-control",
        }.items():
            mp.setenv(key, value)
        for cached in CACHED:
            cached.cache_clear()
        try:
            yield state
        finally:
            for cached in CACHED:
                cached.cache_clear()
            down(local_dir, say=print)


@pytest.fixture(scope="module")
def demo(stack: StackState) -> CanaryDemo:
    return CanaryDemo(stack, "dev", send_command, head_commit())


def test_the_router_and_both_versions_are_supervised_parts(stack: StackState) -> None:
    parts = {p.name: p for p in health(stack)}
    app = stack.apps["dev"]
    assert parts["router-dev"].kind == "router" and parts["router-dev"].url == app.url
    for slot in ("stable", "canary"):
        part = parts[f"app-dev-{slot}"]
        assert part.status == "running" and part.port == app.slot(slot).port
    assert canary_share(app.url) == 0 and app.url.endswith(str(app.port))
    assert STATUS_PATH == "/_router"


def test_a_good_release_goes_10_then_50_then_100_percent(
    stack: StackState, demo: CanaryDemo
) -> None:
    assert "no canary steps" in demo.stable("1.0.0")
    app = stack.apps["dev"]
    assert serving(app.url) == "1.0.0"
    done = demo.good("1.1.0")
    assert "10 % → 50 % → 100 %" in done
    live = demo.rollout("1.1.0")
    assert live is not None and live.state == "live"
    assert live.steps["canary"].status == "passed"
    assert live.steps["deploy"].detail["part"] == "split"
    # what cannot split traffic went out after the canary, once all traffic was on 1.1.0
    split = live.steps["canary"].detail["split"]
    assert split["percent"] == 100 and split["ok"], split
    finish = live.steps["finish"]
    assert finish.status == "SUCCESS" and finish.build_id and finish.detail["part"] == "rest"
    assert finish.finished_at is not None  # its build ended after the 100 % split was applied
    assert finish.finished_at > datetime.fromisoformat(str(split["at"]))
    assert live.steps["smoke"].detail  # the smoke tests ran against the canary's own URL
    judged = live.steps["bake"].detail["judge"]
    assert judged["verdict"] == "pass", judged
    assert serving(app.slot("stable").url) == "1.1.0"  # promoted into the stable slot…
    assert serving(app.slot("canary").url) is None  # …and the canary slot retired
    assert demo.served(20) == {"1.1.0": 20}


def test_a_30_percent_slower_release_is_aborted_by_the_judge_at_10_percent(
    stack: StackState, demo: CanaryDemo
) -> None:
    result = demo.slower("1.2.0")
    rolled = demo.rollout("1.2.0")
    assert rolled is not None and rolled.state == "rolled_back", result
    assert rolled.steps["canary"].status == "aborted"
    assert rolled.steps["canary"].detail["percent"] == 10
    bake = rolled.steps["bake"]
    judge = bake.detail["judge"]
    latency = next(m for m in judge["metrics"] if m["metric"] == "api_p95_latency")
    assert judge["verdict"] == "fail" and latency["class"] == "high", judge
    assert 1.1 < latency["meanRatio"] < 2.0  # slower, well under the 2× absolute budget
    # not a threshold breach: the judge's failure alone (with_judgement keeps a breach's summary)
    assert "canary judge failed the release" in bake.detail["summary"]
    assert rolled.reason == "canary_judge: fail: critical metric(s) worse: api_p95_latency"
    assert demo.serves_again("1.1.0")
    assert canary_share(stack.apps["dev"].url) == 0


def test_a_dead_router_and_version_are_restarted_on_their_ports(stack: StackState) -> None:
    app = stack.apps["dev"]
    serving_before = serving(app.url)
    for pid in (app.pid, app.canary.pid):
        os.killpg(pid, signal.SIGKILL)
    dead = {p.name for p in health(stack) if not p.running}
    assert dead == {"router-dev", "app-dev-canary"}
    restarted = up(Options(local_dir=stack.local_dir, config_file=stack.config_file), say=print)
    again = restarted.apps["dev"]
    assert (again.port, again.canary.port) == (app.port, app.canary.port)
    assert again.pid != app.pid and again.stable.pid == app.stable.pid
    assert all(p.running for p in health(restarted))
    assert serving(app.url) == serving_before and canary_share(app.url) == 0
