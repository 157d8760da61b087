"""The dashboard in a real browser on the local stack: every page renders with real data, approve
from the page takes the rollout live (a second post is not a second approval), the release's
mobile trains halted by a crash breach show with the signal that halted them, no console
errors, no serious or critical axe-core violation, and the notices reach the local inbox once.
Screenshots of each page land in `.local/screenshots/`."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from shared.adapters import firestore_views as views
from shared.cli import context
from shared.domain.workflow import paused_bake
from shared.local import mobile_demo
from shared.local.driving import head_commit
from shared.local.inbox import Inbox
from shared.local.state import StackState
from shared.topics import DASHBOARD_TARGET
from tests.e2e.browser import axe_source, axe_violations, chromium, console_errors, screenshot
from tests.e2e.test_local_releases import command, rollout_in
from tests.integration.core_stack import eventually

pytestmark = pytest.mark.timeout(600)
VERSION = "7.0.0"


def check(driver: Any, axe: str, name: str, *, expect_404: bool = False) -> None:
    errors = console_errors(driver)
    if expect_404:  # the browser logs the page's own 404 status as an error
        errors = [e for e in errors if "status of 404" not in e]
    assert errors == [], f"{name}: console errors {errors}"
    assert axe_violations(driver, axe) == [], name
    screenshot(driver, name)


def test_every_page_in_chromium_and_approve_from_the_page(stack: StackState) -> None:
    axe = axe_source()
    base = f"http://127.0.0.1:{stack.functions[DASHBOARD_TARGET].port}"
    command(
        type="release.create",
        version=VERSION,
        commit=head_commit(),
        branch="release/7.0.0",
        author="demo-dev",
        artifacts={"hosting": "sites/avalo/versions/7", **mobile_demo.builds_of(70)},
    )
    eventually(lambda: views.release_view(context.db(), VERSION))
    # live in staging: its Android and iOS builds go to internal testing and TestFlight
    command(type="release.promote", release=VERSION, env="staging", actor="demo-dev")
    assert rollout_in(VERSION, "staging", "live", "rolled_back").state == "live"
    mobile_demo.testing(VERSION)
    command(type="release.promote", release=VERSION, env="production", actor="demo-dev")
    rollout_in(VERSION, "production", "awaiting_approval")

    from selenium.webdriver.common.by import By

    with chromium() as driver:
        driver.get(base + "/")
        assert "waits for you: approve or reject" in driver.page_source
        check(driver, axe, "overview-awaiting")
        driver.get(f"{base}/releases/{VERSION}")
        check(driver, axe, "release-awaiting")
        driver.find_element(
            By.CSS_SELECTOR, 'form[action$="/production/approve"] button[type=submit]'
        ).click()
        eventually(lambda: "sent=approve" in driver.current_url or None, timeout=30)
        assert "Your approve was sent" in driver.page_source
        # approved for production: the stores' production steps, then a crash breach halts
        # Play and pauses the phased release (while the backend's bake runs)
        eventually(lambda: _approved(VERSION, "production"), timeout=120)
        mobile_demo.to_production(stack, VERSION, command)
        mobile_demo.crash(VERSION)
        mobile_demo.halted(VERSION)
        # the local stack sends production no traffic: its bake pauses for a person, and the
        # same button takes it live
        eventually(lambda: _paused(VERSION, "production"), timeout=300)
        driver.get(f"{base}/releases/{VERSION}")
        assert "approve to take the paused bake live" in driver.page_source
        check(driver, axe, "release-paused")
        driver.find_element(
            By.CSS_SELECTOR, 'form[action$="/production/approve"] button[type=submit]'
        ).click()
        rollout_in(VERSION, "production", "live")

        again = httpx.post(f"{base}/releases/{VERSION}/production/approve", data={})
        assert again.status_code == 303 and "sent=decided" in again.headers["location"]

        for name, path in [
            ("overview", "/"),
            ("release", f"/releases/{VERSION}"),
            ("metrics", "/metrics?env=production&since=1d"),
            ("flags", "/flags"),
            ("migrations", "/migrations"),
            ("dead-letters", "/dead-letters"),
            ("inbox", "/inbox"),
            ("mobile", "/mobile"),
            ("trains", f"/releases/{VERSION}/trains"),
        ]:
            driver.get(base + path)
            assert "Release control plane" in driver.title + driver.page_source, name
            check(driver, axe, name)
            if name in ("mobile", "trains", "overview", "release"):  # the halted trains
                assert "halted" in driver.page_source and "paused" in driver.page_source, name
        assert "Halted on: app-metrics" in driver.page_source  # the trains page, last
        assert "crash-free users of android build 4070 below 99.00%" in driver.page_source
        driver.get(base + "/releases/9.9.9")
        assert "unknown release" in driver.page_source
        check(driver, axe, "not-found", expect_404=True)

    view = views.release_view(context.db(), VERSION)
    assert view is not None
    approvals = [h for h in view.history if h.from_state == "awaiting_approval"]
    assert len(approvals) == 1  # one approval, whatever was posted twice

    def notices() -> Counter[tuple[str, str]] | None:
        got = Counter(
            (n.channel, n.title)
            for n in Inbox(stack.local_dir / "inbox").read()
            if VERSION in n.title
        )
        return got if any("live" in title for _, title in got) else None

    try:
        got = eventually(notices, timeout=90)
    except AssertionError:
        received = [(n.channel, n.title) for n in Inbox(stack.local_dir / "inbox").read()]
        log = (stack.local_dir / "logs" / "on_release_event.log").read_text(errors="replace")
        said = [line[:300] for line in log.splitlines() if VERSION in line][-6:]
        raise AssertionError(
            f"no live notice for {VERSION}; the inbox has {received}; the notifier said {said}"
        ) from None
    waiting = [k for k in got if "approval" in k[1].lower()]
    assert {channel for channel, _ in waiting} == {"slack", "discord", "email"}, got
    assert all(got[k] == 1 for k in got), got  # each notice once per channel


def _approved(version: str, env: str) -> bool | None:
    rollout = views.read_rollout(context.db(), version, env)
    step = rollout.steps.get("approval") if rollout is not None else None
    return True if step is not None and step.status == "approved" else None


def _paused(version: str, env: str) -> bool | None:
    rollout = views.read_rollout(context.db(), version, env)
    return True if rollout is not None and paused_bake(rollout) else None
