"""What a command's free text becomes before it is stored, shown or published, what `--wait`
says about it, and the local people whose roles the emulator tokens carry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer

from shared.approvals import local_users
from shared.approvals.credentials import unverified_claims
from shared.cli import sending
from shared.config import EnvConfig, PlaneConfig
from shared.domain.model import Rollout, StepRecord
from shared.domain.states import State
from shared.secrets.local_store import LocalSecretStore
from shared.secrets.model import SecretsConfig
from shared.secrets.redacting import StoreSecretValues
from tests.unit.fakes import Driver, make_world
from tests.unit.test_rollout_flow import create, to_live

KYC = "4f" * 16  # plain hex: no credential shape gives it away, only knowing the value does
NOW = datetime(2026, 5, 1, tzinfo=UTC)


class EnvSecrets:
    """The bus's `SecretValues`: registers the env's (known) secret values for redaction."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def remember(self, env: EnvConfig) -> None:
        from shared.redaction import remember

        self.read.append(env.name)
        remember(KYC)


def test_a_reason_quoting_the_envs_secret_is_scrubbed_everywhere_it_lands(
    plane: PlaneConfig,
) -> None:
    d = Driver(make_world(plane))
    secrets = EnvSecrets()
    d.w.bus.ports.secret_values = secrets
    create(d)
    to_live(d, "1.2.0")
    create(d, "1.3.0")
    to_live(d, "1.3.0")
    hook = "https://hooks.slack.com/services/" + "T0/B0/" + "x" * 12
    reason = f"paying users hit it; key {KYC} and {hook}"
    done = d.command(type="release.rollback", env="staging", actor="ops", reason=reason)
    assert done.outcome == "applied" and secrets.read == ["staging"]
    rollout = d.rollout("1.3.0", "staging")
    history = d.w.uow.store.history["1.3.0"]
    events = [e.reason or "" for e in d.w.events.published]
    for text in [rollout.reason or "", history[-1].reason or "", *events]:
        assert KYC not in text and hook not in text
    assert rollout.reason == "paying users hit it; key [REDACTED] and [REDACTED]"


def test_the_envs_secret_values_are_read_once_per_ttl(tmp_path: Path) -> None:
    store = LocalSecretStore(tmp_path, "demo-avalo-dev")
    store.add_version("KYC_API_KEY", KYC.encode())
    config = SecretsConfig.model_validate(
        {"secrets": {"KYC_API_KEY": {"description": "KYC", "owner": "kyc", "envs": ["dev"]}}}
    )
    clock = iter([0.0, 10.0, 400.0, 400.0])
    reads: list[str] = []

    def stores(env: EnvConfig) -> LocalSecretStore:
        reads.append(env.name)
        return store

    values = StoreSecretValues(lambda: config, stores, clock=lambda: next(clock))
    dev = EnvConfig(name="dev", project="demo-avalo-dev")
    values.remember(dev)
    values.remember(dev)  # within the TTL: not read again
    values.remember(dev)  # after it: read again (a rotated value is picked up)
    assert reads == ["dev", "dev"]
    from shared.redaction import redact

    assert redact(f"x {KYC} y") == "x [REDACTED] y"


def rollout(state: State, bake: str | None = None) -> Rollout:
    steps = {"bake": StepRecord(status=bake)} if bake else {}
    return Rollout(
        release="1.2.0",
        env="production",
        state=state,
        actor="a",
        created_at=NOW,
        updated_at=NOW,
        state_since=NOW,
        steps=steps,  # type: ignore[arg-type]
        reason="why",
    )


@pytest.mark.parametrize(
    ("kind", "state", "bake", "ok", "says"),
    [
        ("release.rollback", State.ROLLED_BACK, None, True, "release.rollback done"),
        ("release.rollback", State.ROLLBACK_FAILED, None, False, "release.rollback failed"),
        ("release.reject", State.REJECTED, None, True, "is rejected"),
        ("release.cancel", State.CANCELLED, None, True, "is cancelled"),
        ("release.promote", State.LIVE, None, True, "is live"),
        ("release.promote", State.ROLLED_BACK, None, False, "ended rolled_back: why"),
        ("release.promote", State.BLOCKED, None, False, "ended blocked"),
        ("release.promote", State.AWAITING_APPROVAL, None, True, "waits for a person"),
        ("release.approve", State.BAKING, "paused", True, "waits for a person (bake paused)"),
        ("release.approve", State.LIVE, None, True, "release.approve done"),
        ("release.approve", State.FAILED, None, False, "ended failed"),
    ],
)
def test_wait_says_in_one_line_whether_the_command_got_what_it_asked_for(
    kind: str,
    state: State,
    bake: str | None,
    ok: bool,
    says: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = rollout(state, bake)
    wanted = sending.ACHIEVED.get(kind, frozenset())
    assert sending._resting(r)
    if ok:
        sending._verdict(kind, r, wanted)
    else:
        with pytest.raises(typer.Exit) as exit_:
            sending._verdict(kind, r, wanted)
        assert exit_.value.exit_code == 1
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0]


def test_a_running_bake_is_not_a_resting_point() -> None:
    assert not sending._resting(rollout(State.BAKING, "running"))


def test_local_people_get_their_roles_in_the_tokens_the_cli_mints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.approvals.credentials import command_token
    from shared.config import Settings

    path = tmp_path / "users.json"
    monkeypatch.setenv(local_users.USERS_FILE_ENV, str(path))
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    added = local_users.seed_demo_users(path)
    assert {"demo-dev", "demo-approver", "demo-operator", "demo-flags"} <= set(added)
    assert local_users.seed_demo_users(path) == []  # already there: nothing changes
    local_users.grant(path, "demo-dev", ["releaser", "flags"])
    claims = unverified_claims(command_token(Settings(), "demo-dev", NOW))
    assert claims["roles"] == ["flags", "releaser"] and claims["sub"] == "demo-dev"
    nobody = unverified_claims(command_token(Settings(), "stranger", NOW))
    assert nobody["roles"] == []
    path.write_text("{not json")
    with pytest.raises(Exception, match="not a valid local users file"):
        local_users.roles_for(path, "demo-dev")
