"""The secrets and Stripe-mode checks as gates of a real rollout: the core's message bus on
the Firestore emulator, with `SecretsGate` as its gate runner over the local file store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.cloudbuild import NoBuildRunner
from shared.adapters.dead_letters import FirestoreDeadLetters
from shared.adapters.firestore_store import FirestoreUnitOfWork
from shared.adapters.pending_steps import NoBakeAnalysis, NoDeployTarget, NoSmokeTests
from shared.bootstrap import approvals, bootstrap
from shared.config import EnvConfig, PlaneConfig, Settings
from shared.domain.commands import parse_command
from shared.domain.effects import ReleaseEvent
from shared.secrets.handler import SecretsGate
from shared.secrets.local_store import LocalSecretStore
from shared.secrets.model import SecretsConfig
from shared.service.messagebus import MessageBus
from shared.service.ports import Ports
from tests.integration.core_stack import command
from tests.unit.fakes import FakeLedger, FakeReleaseFlags, FakeTicks

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Assembled at run time: the source holds no credential-shaped literal (secret scan).
LIVE = "sk_" + "live_" + "GATEgate0123456789abcd"
TEST = "sk_" + "test_" + "GATEgate0123456789abcd"
KYC_VALUE = "kyc-planted-value-5150"
CONFIG = SecretsConfig.model_validate(
    {
        "secrets": {
            "STRIPE_SECRET_KEY": {"description": "d", "owner": "payments", "stripe": "secret_key"},
            "KYC_API_KEY": {"description": "d", "owner": "trust-safety", "rotation_days": 90},
        }
    }
)


class Events:
    def __init__(self) -> None:
        self.published: list[ReleaseEvent] = []

    def publish(self, event: ReleaseEvent) -> None:
        self.published.append(event)


def make_bus(db: Any, plane: PlaneConfig, root: Path, now: datetime) -> MessageBus:
    def stores(env: EnvConfig) -> LocalSecretStore:
        return LocalSecretStore(root, env.project)

    gate = SecretsGate(CONFIG, stores=stores, clock=lambda: now)
    ports = Ports(
        builds=NoBuildRunner(),
        events=Events(),
        gates=gate,
        smoke=NoSmokeTests(),
        bake=NoBakeAnalysis(),
        deploy_target=NoDeployTarget(),
        flags=FakeReleaseFlags(),
        approvals=approvals(Settings()),
        ticks=FakeTicks(),
        migrations=FakeLedger(),
        letters=FirestoreDeadLetters(db),
    )
    return bootstrap(uow=FirestoreUnitOfWork(db), plane=plane, ports=ports, clock=lambda: now)


def seed(root: Path, project: str, stripe: str, created: datetime) -> None:
    store = LocalSecretStore(root, project, clock=lambda: created)
    store.add_version("STRIPE_SECRET_KEY", stripe.encode())
    store.add_version("KYC_API_KEY", KYC_VALUE.encode())


def promote(bus: MessageBus, env: str) -> Any:
    create = {
        "type": "release.create",
        "version": "3.1.0",
        "commit": "abcdef1",
        "branch": "release/3.1.0",
        "author": "dev",
    }
    bus.handle(parse_command(command(**create)), event_id="c1", topic="t")
    cmd = {"type": "release.promote", "release": "3.1.0", "env": env, "actor": "ops"}
    bus.handle(parse_command(command(**cmd)), event_id="p1", topic="t")
    return bus.uow.read_rollout("3.1.0", env)


def test_an_overdue_secret_blocks_production_with_its_name(
    firestore_db: Any, plane: PlaneConfig, tmp_path: Path
) -> None:
    seed(tmp_path, plane.env("production").project, LIVE, T0)
    bus = make_bus(firestore_db, plane, tmp_path, T0 + timedelta(days=100))
    rollout = promote(bus, "production")
    assert rollout.state == "blocked"
    assert "secret KYC_API_KEY: overdue for rotation by 10 day(s)" in rollout.reason
    assert "secret STRIPE_SECRET_KEY: overdue" in rollout.reason
    stored = json.dumps(rollout.model_dump(mode="json"))
    assert KYC_VALUE not in stored and LIVE not in stored


def test_fresh_live_keys_pass_to_approval(
    firestore_db: Any, plane: PlaneConfig, tmp_path: Path
) -> None:
    seed(tmp_path, plane.env("production").project, LIVE, T0)
    rollout = promote(make_bus(firestore_db, plane, tmp_path, T0 + timedelta(days=1)), "production")
    assert rollout.state == "awaiting_approval"
    checks = {c["name"]: c["ok"] for c in rollout.steps["gates"].detail["checks"]}
    assert checks == {
        "secret STRIPE_SECRET_KEY": True,
        "secret KYC_API_KEY": True,
        "stripe mode STRIPE_SECRET_KEY": True,
    }


@pytest.mark.parametrize(
    ("env", "key", "reason"),
    [
        ("production", TEST, "holds a test-mode key; production must use live-mode keys"),
        ("staging", LIVE, "holds a live-mode key; staging must use test-mode keys"),
    ],
)
def test_the_stripe_check_refuses_the_wrong_mode(
    firestore_db: Any, plane: PlaneConfig, tmp_path: Path, env: str, key: str, reason: str
) -> None:
    seed(tmp_path, plane.env(env).project, key, T0)
    rollout = promote(make_bus(firestore_db, plane, tmp_path, T0 + timedelta(days=1)), env)
    assert rollout.state == "blocked"
    assert rollout.reason == f"stripe mode STRIPE_SECRET_KEY: {reason}"
    assert key not in json.dumps(rollout.model_dump(mode="json"))


def test_an_unreadable_store_fails_closed(
    firestore_db: Any, plane: PlaneConfig, tmp_path: Path
) -> None:
    folder = tmp_path / plane.env("production").project / "KYC_API_KEY"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text("{broken")
    rollout = promote(make_bus(firestore_db, plane, tmp_path, T0), "production")
    assert rollout.state == "blocked" and "unreadable secret metadata" in rollout.reason
