"""The function targets on the emulators: commands and Cloud Build messages through real
Pub/Sub push subscriptions into Firestore, plus duplicates, reordering and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.adapters.pubsub import Publisher
from shared.domain.model import Rollout
from shared.domain.roles import COMMAND_ROLES
from shared.local.subscriptions import FunctionServers
from shared.topics import CLOUD_BUILDS, MONITORING_TICKS, RELEASE_COMMANDS
from tests.builds import attributes, step_build
from tests.integration.core_stack import (
    PROJECT,
    command,
    eventually,
    step_request,
    token,
)
from tests.pubsub_envelope import envelope

SHA = "1234567890abcdef1234567890abcdef12345678"


@pytest.fixture
def pub(wiring: FunctionServers, firestore_db: Any) -> Publisher:
    return Publisher(PROJECT)


def rollout(db: Any, release: str, env: str) -> Rollout | None:
    snap = db.document(f"releases/{release}/rollouts/{env}").get()
    return Rollout.model_validate(snap.to_dict()) if snap.exists else None


def wait_state(db: Any, release: str, env: str, state: str) -> Rollout:
    def fetch() -> Rollout | None:
        r = rollout(db, release, env)
        return r if r is not None and r.state == state else None

    return eventually(fetch)


def build(pub: Publisher, release: str, env: str, step: str, status: str) -> str:
    body = step_build(step_request(release, env, step), status, f"b-{release}-{step}")
    return pub.publish(CLOUD_BUILDS, body, **attributes(body))


def create(pub: Publisher, db: Any, version: str, author: str = "alice") -> None:
    pub.publish(
        RELEASE_COMMANDS,
        command(type="release.create", version=version, commit=SHA, branch="main", author=author),
    )
    eventually(lambda: db.document(f"releases/{version}").get().to_dict())


def test_a_staging_release_goes_live_on_real_build_messages(
    pub: Publisher, firestore_db: Any
) -> None:
    db = firestore_db
    create(pub, db, "1.0.0")
    pub.publish(
        RELEASE_COMMANDS,
        command(type="release.promote", release="1.0.0", env="staging", actor="alice"),
    )
    wait_state(db, "1.0.0", "staging", "migrating")
    for status in ("QUEUED", "WORKING", "SUCCESS"):
        build(pub, "1.0.0", "staging", "migrate", status)
    wait_state(db, "1.0.0", "staging", "deploying")
    for status in ("QUEUED", "WORKING", "SUCCESS"):
        build(pub, "1.0.0", "staging", "deploy", status)
    wait_state(db, "1.0.0", "staging", "baking")
    pub.publish(MONITORING_TICKS, b"{}")
    live = wait_state(db, "1.0.0", "staging", "live")

    assert live.steps["migrate"].build_id == "b-1.0.0-migrate"
    assert live.steps["deploy"].status == "SUCCESS"
    gates = live.steps["gates"]  # the test's checks file requires none: all are warnings
    assert gates.status == "passed"
    assert gates.detail["ran"] is True
    assert {c["name"] for c in gates.detail["checks"]} >= {"termsOfService", "ciTests"}
    env = db.document("environments/staging").get().to_dict()
    assert env["current"]["release"] == "1.0.0"
    assert env["lock"] is None
    history = [
        s.to_dict() for s in db.collection("releases/1.0.0/history").order_by("seq").stream()
    ]
    assert [h["to"] for h in history] == [
        "pending",
        "gating",
        "migrating",
        "deploying",
        "verifying",
        "baking",
        "live",
    ]
    assert [h["seq"] for h in history] == list(range(1, 8))


def test_statuses_out_of_order_never_move_a_step_back(pub: Publisher, firestore_db: Any) -> None:
    db = firestore_db
    create(pub, db, "1.1.0")
    pub.publish(
        RELEASE_COMMANDS, command(type="release.promote", release="1.1.0", env="dev", actor="alice")
    )
    wait_state(db, "1.1.0", "dev", "migrating")
    build(pub, "1.1.0", "dev", "migrate", "SUCCESS")
    wait_state(db, "1.1.0", "dev", "deploying")
    late = [build(pub, "1.1.0", "dev", "migrate", s) for s in ("WORKING", "QUEUED")]
    for message_id in late:
        record = eventually(
            lambda m=message_id: db.document(f"processedEvents/cloud-builds:{m}").get().to_dict()
        )
        assert record["outcome"] == "ignored"
        assert "already at SUCCESS" in record["note"]
    r = rollout(db, "1.1.0", "dev")
    assert r is not None
    assert r.state == "deploying"
    assert r.steps["migrate"].status == "SUCCESS"


def test_a_redelivered_message_is_handled_once(wiring: FunctionServers, firestore_db: Any) -> None:
    db = firestore_db
    server = wiring.servers["on_release_command"]
    body = envelope(
        command(type="release.create", version="2.0.0", commit=SHA, branch="main", author="alice"),
        message_id="redelivered-1",
    )
    url = server.push_endpoint(PROJECT, RELEASE_COMMANDS)
    first = httpx.post(url, json=body, timeout=30)
    second = httpx.post(url, json=body, timeout=30)
    assert first.status_code == second.status_code == 200
    record = db.document("processedEvents/release-commands:redelivered-1").get().to_dict()
    assert record["outcome"] == "applied"
    assert db.document("releases/2.0.0").get().exists


@pytest.mark.parametrize(
    ("topic", "data", "reason"),
    [
        (RELEASE_COMMANDS, b"{not json", "malformed JSON"),
        (RELEASE_COMMANDS, b'{"type": "release.explode"}', "unknown command type"),
        (
            RELEASE_COMMANDS,
            command(type="release.promote", release="9.9.9", env="staging", actor="a"),
            "unknown release '9.9.9'",
        ),
        (
            RELEASE_COMMANDS,
            command(type="release.promote", release="9.9.9", env="qa", actor="a"),
            "unknown environment 'qa'",
        ),
        (
            RELEASE_COMMANDS,
            command(type="env.freeze", env="dev", actor="a"),
            "missing field 'reason'",
        ),
        (CLOUD_BUILDS, b'{"id": "x", "status": "EXPLODED"}', "status"),
    ],
)
def test_malformed_messages_land_in_dead_letters_and_are_acknowledged(
    wiring: FunctionServers, firestore_db: Any, topic: str, data: bytes, reason: str
) -> None:
    server = wiring.servers["on_release_command" if topic == RELEASE_COMMANDS else "on_build_event"]
    response = httpx.post(
        server.push_endpoint(PROJECT, topic), json=envelope(data, message_id="bad-1"), timeout=30
    )
    assert response.status_code == 200  # acknowledged: Pub/Sub will not redeliver it
    letter = firestore_db.document(f"deadLetters/{topic}:bad-1").get().to_dict()
    assert reason in letter["reason"]
    assert letter["topic"] == topic
    assert [d.id for d in firestore_db.collection("releases").stream()] == []


def test_a_dead_letter_published_through_pubsub_is_recorded(
    pub: Publisher, firestore_db: Any
) -> None:
    message_id = pub.publish(RELEASE_COMMANDS, b"[]")
    letter = eventually(
        lambda: firestore_db.document(f"deadLetters/release-commands:{message_id}").get().to_dict()
    )
    assert "must be a JSON object" in letter["reason"]


def test_a_production_rollout_waits_for_someone_else_to_approve(
    pub: Publisher, firestore_db: Any, wiring: FunctionServers
) -> None:
    db = firestore_db
    create(pub, db, "3.0.0", author="alice")
    pub.publish(
        RELEASE_COMMANDS,
        command(type="release.promote", release="3.0.0", env="production", actor="alice"),
    )
    wait_state(db, "3.0.0", "production", "awaiting_approval")

    def approve(approver: str, signer: str | None) -> str:
        signature = token(signer) if signer else None
        body = {"type": "release.approve", "release": "3.0.0", "env": "production"}
        body |= {"approver": approver, "reason": "ok", "id_token": signature}
        return pub.publish(RELEASE_COMMANDS, command(**body))

    def refusal(message_id: str) -> str:
        letter = eventually(
            lambda: db.document(f"deadLetters/release-commands:{message_id}").get().to_dict()
        )
        reason: str = letter["reason"]
        assert "eyJ" not in letter["payload"]  # the token is redacted from the dead letter
        return reason

    assert "four-eyes" in refusal(approve("alice", "alice"))
    assert "is not signed" in refusal(approve("bob", None))
    assert "does not match the signed-in user 'carol'" in refusal(approve("bob", "carol"))
    expired = token("bob", at=datetime.now(UTC) - timedelta(hours=2))
    body = {"type": "release.approve", "release": "3.0.0", "env": "production"}
    late = pub.publish(RELEASE_COMMANDS, command(**body, approver="bob", id_token=expired))
    assert "expired" in refusal(late)
    approve("bob", "bob")
    approved = wait_state(db, "3.0.0", "production", "migrating")
    assert approved.steps["approval"].detail["approver"] == "bob"


def test_a_deploy_failure_with_no_deploy_target_ends_rollback_failed_honestly(
    pub: Publisher, firestore_db: Any
) -> None:
    db = firestore_db
    create(pub, db, "4.0.0")
    pub.publish(
        RELEASE_COMMANDS, command(type="release.promote", release="4.0.0", env="dev", actor="alice")
    )
    wait_state(db, "4.0.0", "dev", "migrating")
    build(pub, "4.0.0", "dev", "migrate", "SUCCESS")
    wait_state(db, "4.0.0", "dev", "deploying")
    build(pub, "4.0.0", "dev", "deploy", "FAILURE")
    failed = wait_state(db, "4.0.0", "dev", "rollback_failed")
    assert "nothing to restore" in (failed.reason or "")


SIGNED_COMMANDS: dict[str, dict[str, Any]] = {
    "release.create": {"version": "4.0.0", "commit": SHA, "branch": "main", "author": "alice"},
    "release.promote": {"release": "4.0.0", "env": "staging", "actor": "dave"},
    "release.approve": {"release": "4.0.0", "env": "staging", "approver": "dave"},
    "release.reject": {"release": "4.0.0", "env": "staging", "approver": "dave"},
    "release.rollback": {"env": "staging", "actor": "dave", "reason": "r"},
    "release.cancel": {"release": "4.0.0", "env": "staging", "actor": "dave"},
    "env.freeze": {"env": "dev", "actor": "dave", "reason": "r"},
    "env.unfreeze": {"env": "dev", "actor": "dave"},
    "flags.set": {"env": "dev", "flag": "ghostFlag", "actor": "dave", "enabled": True},
    "flags.kill": {"env": "dev", "flag": "ghostFlag", "actor": "dave"},
    "flags.unkill": {"env": "dev", "flag": "ghostFlag", "actor": "dave"},
    "backup.take": {"env": "dev", "actor": "dave"},
    "backup.restore": {"env": "dev", "actor": "dave", "backup": "dev-none"},
}
WRONG_ROLE = {  # a role that is not the one each command needs
    "release.create": "operator",
    "release.promote": "operator",
    "release.approve": "releaser",
    "release.reject": "operator",
    "release.rollback": "approver",
    "release.cancel": "approver",
    "env.freeze": "releaser",
    "env.unfreeze": "flags",
    "flags.set": "operator",
    "flags.kill": "releaser",
    "flags.unkill": "approver",
    "backup.take": "flags",
    "backup.restore": "releaser",
}


def test_every_command_type_is_refused_unsigned_expired_or_without_its_role(
    pub: Publisher, firestore_db: Any, wiring: FunctionServers
) -> None:
    """Through the function server: each command type with no token, an expired one, one
    without the command's role, and a valid one (whose signature and role are accepted)."""
    db = firestore_db
    past = datetime.now(UTC) - timedelta(hours=2)
    sent: dict[tuple[str, str], str] = {}
    for kind, fields in SIGNED_COMMANDS.items():
        who = fields.get("actor") or fields.get("approver") or "dave"
        variants = {
            "unsigned": None,
            "expired": token(who, at=past),
            "wrong role": token(who, WRONG_ROLE[kind]),
        }
        for name, signature in variants.items():
            body = command(type=kind, **fields, id_token=signature)
            sent[(kind, name)] = pub.publish(RELEASE_COMMANDS, body)
    expected = {"unsigned": "is not signed", "expired": "expired", "wrong role": "needs the role"}
    for (kind, name), message_id in sent.items():
        letter = eventually(
            lambda m=message_id: db.document(f"deadLetters/release-commands:{m}").get().to_dict()
        )
        assert expected[name] in letter["reason"], (kind, name, letter["reason"])
        if name == "wrong role":
            assert WRONG_ROLE[kind] in letter["reason"]  # what the sender has, named
    for kind, fields in SIGNED_COMMANDS.items():  # valid: past the signature and role check
        who = fields.get("actor") or fields.get("approver") or "alice"
        body = command(type=kind, **fields, id_token=token(who, *ROLE_OF[kind]))
        message_id = pub.publish(RELEASE_COMMANDS, body)
        done = eventually(
            lambda m=message_id: (
                db.document(f"processedEvents/release-commands:{m}").get().to_dict()
            )
        )
        note = done.get("note") or ""
        assert "signed" not in note and "role" not in note, (kind, note)
        if kind == "release.create":
            eventually(lambda: db.document("releases/4.0.0").get().to_dict())
    release = db.document("releases/4.0.0").get().to_dict()
    assert release["createdBy"] == "alice" and release["author"] == "alice"


ROLE_OF = {kind: (role,) for kind, role in COMMAND_ROLES.items()}
