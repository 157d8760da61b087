"""Mobile trains end to end below the transport: the real bus on the Firestore emulator, the
real store adapters (credentials from the secret store) against the simulators, and
`releasectl mobile status --json` reading the stores themselves."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from shared import bootstrap
from shared.cli import app, context
from shared.config import Settings
from shared.entrypoints import decode_command, deliver
from shared.local.store_keys import ASC_ISSUER, ASC_KEY_ID, service_account_info
from shared.secrets.local_store import LocalSecretStore
from shared.service.messagebus import MessageBus
from tests.integration.core_stack import TEST_CONFIG, command
from tests.integration.store_sims import APP_ID, GROUP, PACKAGE, Stores, running_stores
from tests.pubsub_envelope import envelope

MOBILE = f"""
[mobile]
env = "staging"
testing_env = "dev"
[mobile.android]
package_name = "{PACKAGE}"
fractions = [0.1, 0.5, 1.0]
[mobile.ios]
app_id = "{APP_ID}"
internal_group = "{GROUP}"
issuer_id = "{ASC_ISSUER}"
key_id = "{ASC_KEY_ID}"
"""


@pytest.fixture(scope="module")
def stores() -> Iterator[Stores]:
    with running_stores() as s:
        yield s


@pytest.fixture
def bus(
    stores: Stores, firestore_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MessageBus]:
    config = tmp_path / "environments.toml"
    config.write_text(TEST_CONFIG + MOBILE)
    secrets = LocalSecretStore(tmp_path / "secrets", "demo-avalo-staging")
    sa = service_account_info(stores.rsa, f"{stores.play_sim.url}token", "demo-avalo-staging")
    secrets.add_version("play-service-account", json.dumps(sa).encode())
    secrets.add_version("app-store-connect-key", stores.ec.private_pem.encode())
    for key, value in {
        "RELEASECTL_CONFIG_FILE": str(config),
        "RELEASECTL_SECRETS_DIR": str(tmp_path / "secrets"),
        "RELEASECTL_PLAY_URL": stores.play_sim.url,
        "RELEASECTL_APP_STORE_CONNECT_URL": stores.asc_sim.url,
        "RELEASECTL_BUILD_BACKEND": "none",
        "RELEASECTL_DEPLOY_TARGET": "none",
        "RELEASECTL_LOCAL_DIR": "",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RELEASECTL_LOCAL_DIR")
    context.settings.cache_clear()
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    from shared.local.pubsub_admin import ensure_topic

    ensure_topic(pubsub_v1.PublisherClient(), "demo-release-control", "release-events")
    yield bootstrap.bus(Settings())
    for cached in (context.settings, context.db, context.publisher):
        cached.cache_clear()  # the CLI it ran must not keep this test's project for the next


def send(bus: MessageBus, event_id: str | None = None, **body: Any) -> Any:
    data = envelope(command(**body))  # signed by its sender, holding every role
    return deliver(
        bus, event_id or uuid.uuid4().hex, data, topic="release-commands", decode=decode_command
    )


def mobile(bus: MessageBus, kind: str, release: str, **fields: Any) -> Any:
    return send(bus, type=f"mobile.{kind}", release=release, actor="ops@avalo.app", **fields)


def _play_track(stores: Stores, track: str) -> dict[str, Any]:
    state = httpx.get(f"{stores.play_sim.url}_sim/state").json()
    return dict(state["apps"][PACKAGE][track])


def test_android_and_ios_trains_through_the_real_stores(
    bus: MessageBus, stores: Stores, firestore_db: Any
) -> None:
    version = f"5.{uuid.uuid4().int % 1000}.0"
    artifacts = {"android": "versionCode:4102", "ios": "build:4102"}
    created = send(
        bus,
        type="release.create",
        version=version,
        commit="ab" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts=artifacts,
    )
    assert created.outcome == "applied", created.note
    for track in ("internal", "closed", "production"):
        assert mobile(bus, "promote", version, platform="android", track=track).outcome == "applied"
    assert _play_track(stores, "production")["releases"][0]["userFraction"] == 0.1
    assert mobile(bus, "halt", version, platform="android", reason="crashes").outcome == "applied"
    assert mobile(bus, "halt", version, platform="android").outcome == "ignored"
    assert _play_track(stores, "production")["releases"][0]["status"] == "halted"

    mobile(bus, "promote", version, platform="ios", track="testflight")
    mobile(bus, "submit", version)
    httpx.post(f"{stores.asc_sim.url}_sim/review", json={"build": 4102}).raise_for_status()
    mobile(bus, "release", version)

    doc = firestore_db.document(f"releases/{version}/trains/android").get().to_dict()
    assert (doc["track"], doc["status"], doc["fraction"], doc["pending"]) == (
        "production",
        "halted",
        0.1,
        None,
    )
    history = firestore_db.collection(f"releases/{version}/trains/android/history").stream()
    outcomes = [h.to_dict()["outcome"] for h in history]
    assert outcomes == ["asked", "confirmed"] * 4

    result = CliRunner().invoke(app, ["mobile", "status", version, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    production = report["android"]["tracks"]["production"][0]
    assert (production["status"], production["userFraction"]) == ("halted", 0.1)
    ios = report["ios"]["builds"]["4102"]
    assert (ios["status"], ios["day"], ios["detail"]["groups"]) == ("ACTIVE", 1, [GROUP])


def test_a_store_4xx_is_recorded_on_the_train_and_nothing_is_marked_done(
    bus: MessageBus, stores: Stores, firestore_db: Any
) -> None:
    version = f"6.{uuid.uuid4().int % 1000}.0"
    send(
        bus,
        type="release.create",
        version=version,
        commit="cd" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts={"android": "versionCode:31337"},
    )
    record = mobile(bus, "promote", version, platform="android", track="internal")
    assert record.outcome == "applied"
    doc = firestore_db.document(f"releases/{version}/trains/android").get().to_dict()
    assert doc["track"] is None and doc["pending"] is None
    assert "Version code 31337 has not been uploaded" in doc["reason"]


def test_a_store_5xx_outage_leaves_the_call_pending_for_the_redelivery(
    bus: MessageBus, stores: Stores, firestore_db: Any
) -> None:
    version = f"7.{uuid.uuid4().int % 1000}.0"
    send(
        bus,
        type="release.create",
        version=version,
        commit="ef" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts={"android": "versionCode:4200"},
    )
    httpx.post(
        f"{stores.play_sim.url}_sim/faults",
        json={"match": r"POST .*/edits$", "status": 503, "times": 4},
    ).raise_for_status()
    with pytest.raises(Exception, match="unavailable after 4 attempts"):
        mobile(bus, "promote", version, platform="android", track="internal", event_id="m1")
    doc = firestore_db.document(f"releases/{version}/trains/android").get().to_dict()
    assert doc["pending"]["verb"] == "promote" and doc["track"] is None
    redelivered = mobile(
        bus, "promote", version, platform="android", track="internal", event_id="m1"
    )
    assert redelivered.effects_done
    doc = firestore_db.document(f"releases/{version}/trains/android").get().to_dict()
    assert (doc["track"], doc["pending"]) == ("internal", None)


def _crash_batch(version: str, platform: str, start: Any, crashed: int, n: int) -> bytes:
    body = {
        "batchId": f"{version}-{platform}-{n}",
        "env": "staging",
        "release": version,
        "windowStart": start.isoformat(),
        "windowSeconds": 60,
        "platform": platform,
        "build": 4101,
        "appVersion": version,
        "counters": {
            "sessions": 2000,
            "crashedSessions": crashed,
            "users": 1500,
            "crashedUsers": crashed,
        },
    }
    return json.dumps(body).encode()


def test_a_crash_breach_on_app_metrics_halts_pauses_and_kills_with_no_command(
    bus: MessageBus, stores: Stores, firestore_db: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from google.cloud import firestore

    from shared.entrypoints import consume
    from shared.flags import edits
    from shared.flags.store import FirestoreFlagStore

    flags = FirestoreFlagStore(firestore.Client(project="demo-avalo-staging"))
    now = datetime.now(UTC)
    if not flags.get_doc("videoCalls"):
        create = edits.Edit("videoCalls", enabled=True, rollout_percent=10, create=True)
        flags.change("videoCalls", create, "test", now)
    version = f"8.{uuid.uuid4().int % 1000}.0"
    artifacts = {"android": "versionCode:4101", "ios": "build:4101", "flags": "videoCalls=10"}
    send(
        bus,
        type="release.create",
        version=version,
        commit="ab" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts=artifacts,
    )
    for track in ("internal", "closed", "production"):
        mobile(bus, "promote", version, platform="android", track=track)
    mobile(bus, "promote", version, platform="ios", track="testflight")
    mobile(bus, "submit", version)
    httpx.post(f"{stores.asc_sim.url}_sim/review", json={"build": 4101}).raise_for_status()
    mobile(bus, "release", version)

    handler = bootstrap.metrics_handler(Settings())
    minute = now.replace(second=0, microsecond=0)
    for n, crashed in enumerate((5, 60, 70)):  # 99.7 %, then 96 % and 95.3 % crash-free
        start = minute - timedelta(minutes=3 - n)
        data = envelope(_crash_batch(version, "android", start, crashed, n))
        consume(handler, f"{version}-{n}", data, topic="app-metrics")

    track = _play_track(stores, "production")["releases"][0]
    assert (track["versionCodes"], track["status"]) == (["4101"], "halted")
    asc = httpx.get(f"{stores.asc_sim.url}_sim/state").json()
    assert [p["phasedReleaseState"] for p in asc["phasedReleases"].values()][-1] == "PAUSED"
    assert (flags.get_doc("videoCalls") or {})["killSwitch"] is True
    doc = firestore_db.document(f"releases/{version}/trains/android").get().to_dict()
    assert doc["actor"] == "crash-watch"
    assert [w["crashFreeUsers"] for w in doc["evidence"]["windows"]] == [0.96, 0.95333]
