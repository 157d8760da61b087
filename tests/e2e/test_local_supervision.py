"""A part of the local stack dies: `releasectl local status` says which and exits 1, `releasectl
local up` restarts that part alone on its port, and what was in flight ends as it would have."""

from __future__ import annotations

import contextlib
import json
import os
import signal

import httpx
import pytest

from shared.adapters import firestore_views as views
from shared.cli import context
from shared.domain.builds import FINAL as FINAL_BUILD
from shared.local.build_runner import builds_dir, status_file
from shared.local.driving import CI_CONFIG, head_commit, push, wait_build
from shared.local.emulators import port_open
from shared.local.sample_app import serving
from shared.local.stack import down
from shared.local.state import StackState, recorded
from tests.e2e.conftest import pids_alive
from tests.e2e.test_local_releases import FAST_CI, command, releasectl, rollout_in
from tests.integration.core_stack import eventually

pytestmark = pytest.mark.timeout(600)
FINAL = ("live", "failed", "rolled_back", "rollback_failed")


@pytest.fixture(autouse=True)
def same_settings(stack: StackState, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restarted part gets the environment of the `up` that restarts it: the stack's checks
    file, as when the stack started (tests/e2e/conftest.py)."""
    monkeypatch.setenv("RELEASECTL_CHECKS_FILE", str(stack.local_dir / "checks.toml"))


def sigkill(pid: int, group: bool = False) -> None:
    """SIGKILL a part's recorded process, as a crash would; without `group`, what it started (a
    server's worker, an emulator's Java) is left behind for `up` or `down` to deal with."""
    if group:
        os.killpg(pid, signal.SIGKILL)
    else:
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # the fixture's `up` started it: reap it


def dead_parts() -> list[str]:
    shown = releasectl("local", "status", "--json")
    body = json.loads(shown.stdout)
    dead = [part["name"] for part in body["parts"] if part["status"] == "dead"]
    assert shown.exit_code == (1 if dead else 0), shown.output
    assert body["running"] is (not dead)
    return dead


def restart(stack: StackState) -> tuple[StackState, str]:
    done = releasectl("local", "up")
    assert done.exit_code == 0, done.output
    after = recorded(stack.local_dir)
    assert after is not None
    return after, done.output


def test_a_function_server_killed_mid_release_is_restarted_and_the_release_goes_live(
    stack: StackState,
) -> None:
    assert dead_parts() == []
    build = push(stack, context.settings().project, "main", head_commit(), CI_CONFIG, FAST_CI)
    release = f"0.0.0-main.{head_commit()[:7]}"
    victim = stack.functions["on_build_event"]
    sigkill(victim.pid, group=True)  # worker too: the port refuses at once
    ci_status = status_file(builds_dir(stack.local_dir), build)
    assert not ci_status.exists() or ci_status.read_text().strip() not in FINAL_BUILD

    # The CI build ends while on_build_event is dead: its statuses are refused, no release yet.
    assert wait_build(stack, build, 300) == "SUCCESS"
    assert dead_parts() == ["on_build_event"]
    assert views.release_view(context.db(), release) is None
    after, said = restart(stack)

    assert "restarted on_build_event on :" in said
    assert after.functions["on_build_event"].port == victim.port
    assert after.functions["on_build_event"].pid != victim.pid
    others = [p for p in stack.parts() if p.name != "on_build_event"]
    assert [p.pid for p in others] == [p.pid for p in after.parts() if p.name != "on_build_event"]
    assert dead_parts() == []
    # The emulator pushes the refused statuses again, to the same port: the release goes on.
    live = rollout_in(release, "staging", *FINAL)
    assert live.state == "live", live.reason
    assert serving(stack.apps["staging"].url) == release


def test_a_dead_pubsub_emulator_is_restarted_empty_and_wired_again(stack: StackState) -> None:
    sigkill(stack.pubsub.pid)  # the emulator's Java outlives its wrapper, still on the port
    assert dead_parts() == ["pubsub"]

    after, said = restart(stack)

    assert after.pubsub.port == stack.pubsub.port and after.pubsub.pid != stack.pubsub.pid
    assert "messages it held" in said and "lost" in said
    assert dead_parts() == []
    # Topics and push subscriptions exist again: a command (signed as the stack's seeded
    # operator) reaches on_release_command.
    command(type="env.freeze", env="dev", actor="demo-operator", reason="after the restart")
    frozen = eventually(
        lambda: (context.db().document("environments/dev").get().to_dict() or {}).get("frozen"),
        timeout=60,
    )
    assert frozen
    command(type="env.unfreeze", env="dev", actor="demo-operator", reason="done")


def test_a_dead_firestore_emulator_is_restarted_and_says_its_data_was_lost(
    stack: StackState,
) -> None:
    sigkill(stack.firestore.pid)
    assert dead_parts() == ["firestore"]

    after, said = restart(stack)

    assert after.firestore.port == stack.firestore.port
    assert "DATA WAS LOST" in said
    assert "triggers registered again" in said and "seeded" in said
    assert dead_parts() == []
    # An empty emulator: the releases are gone; the environments were seeded again.
    assert views.release_view(context.db(), "0.0.0-main." + head_commit()[:7]) is None
    documents = f"http://{stack.firestore_host}/v1/projects/demo-avalo-staging/databases"
    found = httpx.get(
        f"{documents}/(default)/documents/compliance",
        headers={"Authorization": "Bearer owner"},
        timeout=10,
    ).json()
    assert found.get("documents"), found


def test_down_stops_a_partly_dead_stack_and_what_its_dead_parts_left_behind(
    stack: StackState,
) -> None:
    """Last in the module: the fixture's own `down` then finds nothing to stop."""
    state = recorded(stack.local_dir)
    assert state is not None and state.ticker is not None
    sigkill(state.functions["on_release_event"].pid)  # its orphaned worker may hold the port
    sigkill(state.ticker.pid)
    assert dead_parts() == ["on_release_event", "ticker"]

    assert down(stack.local_dir, say=print)

    assert pids_alive(state.pids()) == []
    assert [p.name for p in state.parts() if p.port and port_open(p.port)] == []
