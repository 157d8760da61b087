"""The local deploy target's canary: an env's stable and canary sample apps behind the traffic-
splitting router, as `releasectl local up` starts them, switched over real HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from shared.config import EnvConfig
from shared.domain.model import OWN_URL, Deployed
from shared.local.router import SERVED_BY, to_canary
from shared.local.sample_app import MODE, VERSION, LocalSampleApp, canary_share, serving
from shared.local.stack import _Started, start_app
from shared.local.state import App, Proc, StackState
from shared.local.traffic import Traffic

NOW = datetime(2026, 11, 28, tzinfo=UTC)
STAGING = EnvConfig(name="staging", project="demo-avalo-staging", canary=(10, 50))
PLAIN = EnvConfig(name="staging", project="demo-avalo-staging")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    local_dir = tmp_path_factory.mktemp("router")
    started = _Started()
    try:
        yield start_app("staging", local_dir, local_dir / "logs", started)
    finally:
        started.stop()


def target(app: App, modes: dict[str, str]) -> LocalSampleApp:
    stack = StackState(
        local_dir=app.routes_file.parent,
        started_at=NOW,
        firestore=Proc(pid=1, port=1),
        pubsub=Proc(pid=1, port=1),
        functions={},
        apps={"staging": app},
        config_file=app.routes_file,
    )
    return LocalSampleApp(stack, lambda version: {MODE: modes.get(version, "ok")})


def served_by(url: str, calls: int) -> Counter[tuple[str, str]]:
    """(router's slot, app version) of each of `calls` requests to `url`."""
    seen: Counter[tuple[str, str]] = Counter()
    with httpx.Client(timeout=10) as client:
        for _ in range(calls):
            answer = client.get(f"{url}/health")
            assert answer.status_code == 200, answer.text
            seen[(answer.headers[SERVED_BY], answer.headers["X-App-Version"])] += 1
    return seen


def deployed(release: str, artifacts: dict[str, str]) -> Deployed:
    return Deployed(release=release, artifacts=artifacts, since=NOW)


def test_the_router_sends_exactly_the_share_in_every_hundred_requests() -> None:
    for percent in (1, 10, 25, 50, 99):
        picks = [to_canary(n, percent) for n in range(300)]
        assert all(sum(picks[i : i + 100]) == percent for i in (0, 100, 200))
    assert [to_canary(n, 50) for n in range(4)] == [True, False, True, False]
    assert not any(to_canary(n, 0) for n in range(100))


def test_a_canary_serves_its_share_then_all_and_the_old_version_is_retired(app: App) -> None:
    local = target(app, {})
    assert local.deploy("1.0.0", STAGING) == {VERSION: "1.0.0", MODE: "ok"}  # nothing stable yet
    assert serving(app.url) == "1.0.0" and serving(app.canary.url) is None

    artifacts = local.deploy("1.1.0", STAGING, "split")
    assert artifacts == {VERSION: "1.1.0", MODE: "ok", OWN_URL: app.canary.url}
    assert serving(artifacts[OWN_URL]) == "1.1.0"  # what the smoke tests check
    assert served_by(app.url, 20) == {("stable", "1.0.0"): 20}  # 0 % until the first step

    stable = deployed("1.0.0", {VERSION: "1.0.0", MODE: "ok"})
    ten = local.split(artifacts, stable, 10, STAGING)
    assert ten.ran and ten.ok, ten.summary
    assert ten.summary == "1.1.0 10 %, 1.0.0 90 %"
    assert served_by(app.url, 100) == {("stable", "1.0.0"): 90, ("canary", "1.1.0"): 10}

    assert local.split(artifacts, stable, 50, STAGING).ok
    assert served_by(app.url, 40) == {("stable", "1.0.0"): 20, ("canary", "1.1.0"): 20}

    done = local.split(artifacts, stable, 100, STAGING)
    assert done.ran and done.ok, done.summary
    assert served_by(app.url, 30) == {("stable", "1.1.0"): 30}
    assert serving(app.canary.url) is None and canary_share(app.url) == 0
    # the finish build: the sample app has nothing that cannot split traffic to deploy
    assert local.deploy("1.1.0", STAGING, "rest") == {}


def test_an_abort_sends_everything_back_to_stable(app: App) -> None:
    local = target(app, {"2.1.0": "slower"})
    local.deploy("2.0.0", PLAIN)  # without canary steps: all at once
    assert served_by(app.url, 5) == {("stable", "2.0.0"): 5}
    artifacts = local.deploy("2.1.0", STAGING, "split")
    stable = deployed("2.0.0", {VERSION: "2.0.0", MODE: "ok"})
    assert local.split(artifacts, stable, 10, STAGING).ok
    assert served_by(app.url, 10) == {("stable", "2.0.0"): 9, ("canary", "2.1.0"): 1}

    restored = local.restore(stable, STAGING)
    assert restored.ok, restored.summary
    assert served_by(app.url, 20) == {("stable", "2.0.0"): 20}
    assert serving(app.canary.url) is None


def test_a_split_whose_canary_slot_does_not_serve_it_fails(app: App) -> None:
    local = target(app, {})
    local.deploy("3.0.0", PLAIN)
    stable = deployed("3.0.0", {VERSION: "3.0.0"})
    ghost = {VERSION: "3.1.0", MODE: "ok", OWN_URL: app.canary.url}  # never deployed
    report = local.split(ghost, stable, 10, STAGING)
    assert report.ran and not report.ok
    assert "does not serve 3.1.0" in report.summary
    assert canary_share(app.url) == 0  # nothing half-applied
    unrecorded = local.split({VERSION: "3.0.0"}, stable, 10, STAGING)
    assert not unrecorded.ran and unrecorded.ok  # deployed all at once: nothing to split


def test_the_traffic_generator_measures_each_version_apart(app: App) -> None:
    local = target(app, {"4.1.0": "slower"})
    local.deploy("4.0.0", PLAIN)
    artifacts = local.deploy("4.1.0", STAGING, "split")
    local.split(artifacts, deployed("4.0.0", {VERSION: "4.0.0"}), 50, STAGING)
    seen = Traffic(app.url, "staging", window_seconds=60).calls(40, workers=2)
    windows = seen.by_window()
    assert sorted({version for _, version in windows}) == ["4.0.0", "4.1.0"]
    stable = [c for (_, v), w in windows.items() if v == "4.0.0" for c in w.latencies_ms]
    slower = [c for (_, v), w in windows.items() if v == "4.1.0" for c in w.latencies_ms]
    assert len(stable) == len(slower) == 20
    # the slower release's chat calls take 39 ms, the stable one's 30 ms
    assert sorted(slower)[10] > sorted(stable)[10]
    local.restore(deployed("4.0.0", {VERSION: "4.0.0"}), STAGING)
