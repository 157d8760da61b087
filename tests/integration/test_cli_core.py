"""`releasectl` against the emulators: commands go through Pub/Sub to the real functions."""

from __future__ import annotations

import json
import threading
from typing import Any

from typer.testing import CliRunner

from shared.adapters.pubsub import Publisher
from shared.cli import app
from shared.local.subscriptions import FunctionServers
from shared.topics import CLOUD_BUILDS
from tests.builds import attributes, step_build
from tests.integration.core_stack import PROJECT, eventually, step_request

SHA = "feedfacefeedfacefeedfacefeedfacefeedface"
runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"RELEASECTL_ACTOR": "carol", "COLUMNS": "200"})


def test_create_promote_and_read_back_status_and_history(
    wiring: FunctionServers, firestore_db: Any
) -> None:
    created = cli(
        "release",
        "create",
        "8.0.0",
        "--commit",
        SHA,
        "--author",
        "alice",
        "--artifact",
        "hosting=sites/avalo/versions/8",
        "--wait",
        "--timeout",
        "30",
    )
    assert created.exit_code == 0, created.output
    promoted = cli(
        "release", "promote", "8.0.0", "--env", "production", "--wait", "--timeout", "30"
    )
    assert promoted.exit_code == 0, promoted.output  # rests at awaiting_approval
    assert "awaiting_approval" in promoted.output

    status = cli("status", "--json")
    assert status.exit_code == 0, status.output
    envs = {e["env"]: e for e in json.loads(status.output)["environments"]}
    assert envs["production"]["in_flight"]["state"] == "awaiting_approval"
    assert envs["production"]["state"]["lock"]["release"] == "8.0.0"
    assert envs["staging"]["in_flight"] is None

    history = cli("history", "8.0.0", "--json")
    assert history.exit_code == 0, history.output
    view = json.loads(history.output)
    assert view["release"]["artifacts"] == {"hosting": "sites/avalo/versions/8"}
    assert [h["to"] for h in view["history"]] == ["pending", "gating", "awaiting_approval"]
    assert view["history"][0]["actor"] == "carol"

    table = cli("status", "--env", "production")
    assert table.exit_code == 0, table.output
    assert "8.0.0" in table.output
    assert "approval" in table.output


def test_approve_with_wait_follows_the_rollout_and_reports_a_refusal(
    wiring: FunctionServers, firestore_db: Any
) -> None:
    assert (
        cli("release", "create", "8.1.0", "--commit", SHA, "--author", "carol", "--wait").exit_code
        == 0
    )
    assert cli("release", "promote", "8.1.0", "--env", "production", "--wait").exit_code == 0
    own = cli("release", "approve", "8.1.0", "--env", "production", "--wait")
    assert own.exit_code == 1
    assert "four-eyes" in own.output


def test_wait_follows_the_rollout_and_exits_one_when_it_fails(
    wiring: FunctionServers, firestore_db: Any
) -> None:
    assert cli("release", "create", "8.2.0", "--commit", SHA, "--wait").exit_code == 0

    def fail_the_migration() -> None:  # Cloud Build, a little later
        eventually(lambda: firestore_db.document("releases/8.2.0/rollouts/dev").get().to_dict())
        body = step_build(step_request("8.2.0", "dev", "migrate"), "FAILURE", "b-8.2.0")
        Publisher(PROJECT).publish(CLOUD_BUILDS, body, **attributes(body))

    build = threading.Thread(target=fail_the_migration)
    build.start()
    promoted = cli("release", "promote", "8.2.0", "--env", "dev", "--wait", "--timeout", "60")
    build.join()
    assert promoted.exit_code == 1, promoted.output
    assert "ended failed" in promoted.output
    assert "build b-8.2.0 ended FAILURE" in promoted.output


def test_freeze_blocks_promotion_until_unfrozen(wiring: FunctionServers, firestore_db: Any) -> None:
    assert cli("release", "create", "8.3.0", "--commit", SHA, "--wait").exit_code == 0
    frozen = cli("env", "freeze", "staging", "--reason", "store review", "--wait")
    assert frozen.exit_code == 0, frozen.output
    refused = cli("release", "promote", "8.3.0", "--env", "staging", "--wait")
    assert refused.exit_code == 1
    assert "frozen by carol" in refused.output
    status = json.loads(cli("status", "--env", "staging", "--json").output)
    assert status["environments"][0]["state"]["frozen"]["reason"] == "store review"
    assert cli("env", "unfreeze", "staging", "--wait").exit_code == 0
    assert (
        cli("release", "promote", "8.3.0", "--env", "staging", "--wait", "--timeout", "5").exit_code
        == 1
    )  # times out in migrating: no build runner here
    letters = json.loads(cli("dead-letters", "--json").output)["deadLetters"]
    assert any("frozen" in d["reason"] for d in letters)


def test_bad_arguments_exit_two_and_publish_nothing(
    wiring: FunctionServers, firestore_db: Any
) -> None:
    bad_commit = cli("release", "create", "9.0.0", "--commit", "not-a-sha")
    assert bad_commit.exit_code == 2
    assert "commit" in bad_commit.output
    bad_version = cli("release", "promote", "v9", "--env", "dev")
    assert bad_version.exit_code == 2
    unknown_env = cli("release", "promote", "9.0.0", "--env", "qa")
    assert unknown_env.exit_code == 2
    assert "unknown environment 'qa'" in unknown_env.output
    bad_artifact = cli("release", "create", "9.0.0", "--commit", SHA, "--artifact", "nope")
    assert bad_artifact.exit_code == 2
    missing = cli("history", "9.9.9")
    assert missing.exit_code == 1
    assert list(firestore_db.collection("processedEvents").stream()) == []


def test_advance_and_abort_outside_a_canary_step_are_refused_with_the_state(
    wiring: FunctionServers, firestore_db: Any
) -> None:
    assert (
        cli("release", "create", "8.7.0", "--commit", SHA, "--author", "al", "--wait").exit_code
        == 0
    )
    assert cli("release", "promote", "8.7.0", "--env", "production", "--wait").exit_code == 0
    advanced = cli(
        "release", "advance", "8.7.0", "--env", "production", "--wait", "--timeout", "30"
    )
    assert advanced.exit_code == 1, advanced.output
    assert "is awaiting_approval, not in a canary step" in advanced.output
    aborted = cli(
        "release", "abort", "8.7.0", "--env", "production", "-r", "x", "--wait", "--timeout", "30"
    )
    assert aborted.exit_code == 1 and "not in a canary step" in aborted.output
    no_reason = cli("release", "abort", "8.7.0", "--env", "production")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    status = cli("status", "--json")
    envs = {e["env"]: e for e in json.loads(status.output)["environments"]}
    assert envs["production"]["canary"] is None
    assert envs["production"]["in_flight"]["state"] == "awaiting_approval"
