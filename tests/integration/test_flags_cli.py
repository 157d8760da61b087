"""`releasectl flags …` against the emulators: changes travel as signed commands through Pub/Sub
to the real `on_release_command` function, which checks the `flags` role and writes the flag as
its verified sender; kill-switch propagation to a live evaluator (Firestore `on_snapshot`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.cloud import firestore
from typer.testing import CliRunner

from shared.approvals import local_users
from shared.cli import app, flags_cmds
from shared.flags.bucketing import micro_percentile
from shared.flags.runtime import listen
from shared.local import emulators
from shared.local.subscriptions import FunctionServers
from shared.topics import RELEASE_COMMANDS
from tests.integration.core_stack import PROJECT, command
from tests.pubsub_envelope import envelope

DEV = "demo-avalo-dev"
REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
SEEDED = {
    "videoCalls": {"enabled": True, "rolloutPercent": 10, "owner": "calls"},
    "panicTracking": {"enabled": True, "rolloutPercent": 100, "alwaysOn": True},
    "wallet": {"enabled": True, "rolloutPercent": 100},
}
USERS = [f"user-{i}" for i in range(40)]


@pytest.fixture
def dev_db(wiring: FunctionServers, firestore_db: Any) -> Iterator[firestore.Client]:
    emulators.reset_firestore(os.environ["FIRESTORE_EMULATOR_HOST"], DEV)
    db = firestore.Client(project=DEV)
    for name, doc in SEEDED.items():
        db.collection("featureFlags").document(name).set(doc)
    yield db
    db.close()


def cli(*args: str, actor: str = "dave") -> Any:
    """As `actor`; dave holds every role, the others what `people` grants them."""
    return runner.invoke(flags_cmds.app, list(args), env={"RELEASECTL_ACTOR": actor})


def stored(db: firestore.Client, name: str) -> dict[str, Any]:
    return db.collection("featureFlags").document(name).get().to_dict() or {}


def test_set_changes_the_flag_and_records_who(dev_db: firestore.Client) -> None:
    result = cli("set", "videoCalls", "--rollout", "25.5", "--env", "dev")
    assert result.exit_code == 0, result.output
    doc = stored(dev_db, "videoCalls")
    assert (doc["rolloutPercent"], doc["updatedBy"], doc["owner"]) == (25.5, "dave", "calls")
    assert cli("set", "videoCalls", "--disabled", "--env", "dev").exit_code == 0
    assert stored(dev_db, "videoCalls")["enabled"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "panicTracking", "--disabled", "--env", "dev"], "always-on"),
        (["kill", "refundButtons", "--env", "dev"], "unknown flag"),
        (["set", "wallet", "--rollout", "50", "--env", "dev"], "kill switch"),
        (["set", "videoCalls", "--rollout", "12.345", "--env", "dev"], "two decimals"),
        (["set", "videoCalls", "--rollout", "140", "--env", "dev"], "--rollout"),
        (["set", "videoCalls", "--env", "dev"], "nothing to change"),
        (["set", "ghost", "--enabled", "--env", "dev"], "unknown flag"),
        (["get", "videoCalls", "--env", "moon"], "unknown environment"),
        (["eval", "videoCalls", " ", "--env", "dev"], "blank"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    dev_db: firestore.Client, args: list[str], message: str
) -> None:
    before = {name: stored(dev_db, name) for name in SEEDED}
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert {name: stored(dev_db, name) for name in SEEDED} == before


def test_eval_several_users_as_json(dev_db: firestore.Client) -> None:
    result = cli("eval", "videoCalls", *USERS, "--env", "dev", "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert got == {u: micro_percentile("videoCalls", u) <= 10_000_000 for u in USERS}
    assert any(got.values())
    assert not all(got.values())


def test_kill_turns_the_flag_off_for_everyone(dev_db: firestore.Client) -> None:
    assert cli("kill", "wallet", "--env", "dev").exit_code == 0
    got = json.loads(cli("eval", "wallet", *USERS, "--env", "dev", "--json").output)
    assert not any(got.values())
    assert cli("unkill", "wallet", "--env", "dev").exit_code == 0
    got = json.loads(cli("eval", "wallet", *USERS, "--env", "dev", "--json").output)
    assert all(got.values())


def test_list_and_get_as_json(dev_db: firestore.Client) -> None:
    dev_db.collection("featureFlags").document("events").set({"enabled": "yes"})
    listed = json.loads(cli("list", "--env", "dev", "--json").output)
    assert set(listed["flags"]) == {*SEEDED, "events"}
    assert "enabled" in listed["invalid"]["events"]
    got = json.loads(cli("get", "videoCalls", "--env", "dev", "--json").output)
    assert got["value"]["rolloutPercent"] == 10
    assert got["invalid"] is None


def test_kill_reaches_a_listening_evaluator(dev_db: firestore.Client) -> None:
    evaluator, listener = listen(DEV)
    try:
        assert evaluator.is_enabled("wallet", "user-1")
        assert cli("kill", "wallet", "--env", "dev").exit_code == 0
        deadline = time.monotonic() + 30
        while evaluator.is_enabled("wallet", "user-1"):
            assert time.monotonic() < deadline, "the listener never saw the kill"
            time.sleep(0.02)
        assert not any(evaluator.is_enabled("wallet", u) for u in USERS)
    finally:
        listener.stop()


def test_releasectl_has_the_flags_group(dev_db: firestore.Client) -> None:
    exe = Path(sys.executable).parent / "releasectl"
    out = subprocess.run(
        [str(exe), "flags", "eval", "panicTracking", "a", "b", "--env", "dev", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ},
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"a": True, "b": True}


# -- flag changes are signed commands (docs/FLAGS.md, "Who changes a flag") ----------------------


@pytest.fixture
def people() -> None:
    """erin may release but not change flags; fern holds only the `flags` role."""
    users = Path(os.environ[local_users.USERS_FILE_ENV])
    local_users.grant(users, "erin", ["releaser"])
    local_users.grant(users, "fern", ["flags"])


def test_a_change_is_made_as_its_verified_sender_and_recorded(
    dev_db: firestore.Client, firestore_db: Any, people: None
) -> None:
    done = cli("set", "videoCalls", "--rollout", "30", "--env", "dev", "-r", "ramp", actor="fern")
    assert done.exit_code == 0, done.output
    assert "flags.set done: videoCalls in dev: on, rollout 30%" in done.output
    assert stored(dev_db, "videoCalls")["updatedBy"] == "fern"
    listed = runner.invoke(app, ["env", "operations", "dev", "--json"])
    (op,) = json.loads(listed.output)["operations"]
    assert (op["actor"], op["actorUid"], op["kind"], op["status"]) == (
        "fern",
        "fern",
        "flags.set",
        "done",
    )
    assert op["reason"] == "ramp" and op["detail"]["before"]["rolloutPercent"] == 10


def test_a_sender_without_the_flags_role_is_refused_and_nothing_changes(
    dev_db: firestore.Client, people: None
) -> None:
    refused = cli("kill", "wallet", "--env", "dev", actor="erin")
    assert refused.exit_code == 1, refused.output
    assert "needs the role 'flags'" in refused.output and "erin" in refused.output
    assert "killSwitch" not in stored(dev_db, "wallet")


def test_unsigned_and_redelivered_flag_commands(
    dev_db: firestore.Client, firestore_db: Any, wiring: FunctionServers
) -> None:
    server = wiring.servers["on_release_command"]
    url = server.push_endpoint(PROJECT, RELEASE_COMMANDS)
    kill = {"type": "flags.kill", "env": "dev", "flag": "wallet", "actor": "dave"}
    unsigned = envelope(command(**kill, id_token=None), message_id="flag-unsigned")
    assert httpx.post(url, json=unsigned, timeout=60).status_code == 200
    letter = firestore_db.document("deadLetters/release-commands:flag-unsigned").get().to_dict()
    assert "is not signed" in letter["reason"]
    assert "killSwitch" not in stored(dev_db, "wallet")
    body = envelope(command(**kill), message_id="flag-twice")
    for _ in range(2):
        assert httpx.post(url, json=body, timeout=60).status_code == 200
    assert stored(dev_db, "wallet")["killSwitch"] is True
    ops = list(firestore_db.collection("environments/dev/operations").stream())
    assert [o.to_dict()["status"] for o in ops] == ["done"]  # one command, one change
