"""Every command from a person is signed; roles decide who may send what, per environment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.approvals.handler import SignedCommands
from shared.approvals.signing import must_sign, signed
from shared.config import EnvConfig, PlaneConfig
from shared.domain.commands import parse_command
from shared.domain.roles import COMMAND_ROLES, denial, required_role, roles_of
from shared.domain.states import State
from shared.errors import Refused
from tests.unit.fakes import Driver, FakeVerifier, make_world

SHA = "ab" * 20
CREATE = {"type": "release.create", "version": "1.0.0", "commit": SHA, "branch": "main"}


# -- the role table (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "env", "role"),
    [
        ("release.create", None, "releaser"),
        ("release.promote", "dev", "releaser"),
        ("release.cancel", "staging", "releaser"),
        ("mobile.promote", None, "releaser"),
        ("release.approve", "production", "approver"),
        ("release.reject", "production", "approver"),
        ("release.advance", "staging", "releaser"),
        ("release.advance", "production", "approver"),
        ("release.rollback", "production", "operator"),
        ("release.abort", "dev", "operator"),
        ("env.freeze", "production", "operator"),
        ("env.unfreeze", "production", "operator"),
        ("mobile.halt", None, "operator"),
        ("flags.set", "dev", "flags"),
        ("dashboard.view", None, "viewer"),
    ],
)
def test_each_command_needs_its_role(command: str, env: str | None, role: str) -> None:
    assert required_role(command, env) == role
    assert denial(command, env, "ann", {role}) is None
    others = {r for r in ("releaser", "approver", "operator", "flags", "viewer") if r != role}
    why = denial(command, env, "ann", others)
    assert why is not None and f"needs the role {role!r}" in why and "ann" in why


def test_an_environment_overrides_a_row_and_anyone_means_any_signed_person() -> None:
    assert denial("release.promote", "dev", "ann", set(), {"release.promote": "anyone"}) is None
    tight = {"release.promote": "approver"}
    assert denial("release.promote", "production", "ann", {"releaser"}, tight) is not None
    assert denial("release.promote", "production", "ann", {"approver"}, tight) is None


def test_an_unknown_command_is_allowed_to_nobody() -> None:
    assert "not in the role table" in (denial("release.explode", None, "ann", {"operator"}) or "")


def test_roles_come_from_the_custom_claim_only_when_known() -> None:
    assert roles_of({"roles": ["operator", "root", 3]}) == {"operator"}
    assert roles_of({"roles": "approver"}) == {"approver"}
    assert roles_of({"roles": {"operator": True}}) == frozenset()
    assert roles_of({}) == frozenset()


def test_the_config_refuses_a_role_row_for_an_unknown_command() -> None:
    with pytest.raises(ValueError, match=r"unknown command 'release\.explode'"):
        EnvConfig(name="dev", project="demo-avalo-dev", roles={"release.explode": "operator"})
    assert "release.promote" in COMMAND_ROLES


# -- the check the bus runs ---------------------------------------------------------------------


def check(plane: PlaneConfig, token: str | None, **payload: Any) -> Any:
    body = {**payload, **({"id_token": token} if token else {})}
    cmd = parse_command(json.dumps(body).encode())
    return SignedCommands(FakeVerifier, plane=plane).check(cmd)


def test_a_signed_command_names_its_verified_sender(plane: PlaneConfig) -> None:
    token = FakeVerifier.token_of("ann@avalo.app", "operator")
    cmd, who = check(
        plane, token, type="env.freeze", env="production", actor="ann@avalo.app", reason="x"
    )
    assert who is not None and who.uid == "ann@avalo.app" and cmd.actor == "ann@avalo.app"


@pytest.mark.parametrize(
    ("token", "actor", "why"),
    [
        (None, "ann", "is not signed"),
        ("forged", "ann", "ID token rejected"),
        (FakeVerifier.token_of("ann", "releaser"), "ann", "needs the role 'operator'"),
        (FakeVerifier.token_of("bob", "operator"), "ann", "does not match the signed-in user"),
    ],
)
def test_unsigned_forged_wrong_role_and_impersonating_commands_are_refused(
    plane: PlaneConfig, token: str | None, actor: str, why: str
) -> None:
    with pytest.raises(Refused, match=why):
        check(plane, token, type="release.rollback", env="production", actor=actor, reason="r")


def test_with_signed_commands_off_an_unsigned_command_is_taken_at_its_word(
    plane: PlaneConfig,
) -> None:
    control = plane.control.model_copy(update={"signed_commands": False})
    loose = plane.model_copy(update={"control": control})
    cmd, who = check(loose, None, type="release.promote", release="1.0.0", env="dev", actor="x")
    assert who is None and cmd.actor == "x"
    assert must_sign(control, "release.approve") and not must_sign(control, "release.promote")


def test_the_signing_function_names_the_sender_in_the_right_field() -> None:
    approve = signed({"type": "release.approve", "approver": "x"}, token="t", sender="ann")
    assert approve == {"type": "release.approve", "approver": "ann", "id_token": "t"}
    create = signed(dict(CREATE, author="dev"), token="t", sender="ann")
    assert create["author"] == "dev" and "actor" not in create


# -- through the bus ------------------------------------------------------------------------


def test_the_audit_trail_holds_verified_identities_and_refusals_name_the_role(
    plane: PlaneConfig,
) -> None:
    d = Driver(make_world(plane))
    releaser = FakeVerifier.token_of("rel@avalo.app", "releaser")
    d.command(**CREATE, author="dev", id_token=releaser)
    assert d.w.uow.store.releases["1.0.0"].created_by == "rel@avalo.app"
    promote = {"type": "release.promote", "release": "1.0.0", "env": "staging"}
    no_role = d.command(**promote, actor="ops", id_token=FakeVerifier.token_of("ops", "operator"))
    assert no_role.outcome == "refused" and "needs the role 'releaser'" in no_role.note
    (letter,) = d.w.uow.store.dead_letters.values()
    assert "needs the role 'releaser'" in letter.reason and "ops" in letter.reason
    ok = d.command(**promote, actor="rel@avalo.app")
    assert ok.outcome == "applied"
    history = d.w.uow.store.history["1.0.0"]
    by_person = [(h.actor, h.actor_uid) for h in history[:2]]  # pending, gating
    assert by_person == [("rel@avalo.app", "rel@avalo.app")] * 2
    assert history[2].actor == "gates" and history[2].actor_uid is None  # a machine step
    assert d.rollout("1.0.0", "staging").state is not State.PENDING


def test_a_redelivered_command_whose_token_expired_since_is_still_a_duplicate(
    plane: PlaneConfig,
) -> None:
    d = Driver(make_world(plane))
    first = d.command(event_id="e-1", **CREATE, author="dev")
    again = d.command(event_id="e-1", **CREATE, author="dev", id_token="expired-now")
    assert first.outcome == again.outcome == "applied"
