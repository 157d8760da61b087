"""Remote Config on the real trigger path: a Firestore emulator delivers `featureFlags` writes
to `on_flag_written` (which publishes the templates), and the Remote Config simulator delivers
its update CloudEvents to `on_remote_config_updated` (which adopts or reverts console edits),
both functions running in functions-framework servers, as in the local stack."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]

from shared.config import DEFAULT_CONTROL_PROJECT
from shared.flags import templates
from shared.flags.model import parse_flag
from shared.flags.remote_config import RemoteConfigRest, local_token
from shared.flags.store import FirestoreFlagStore
from shared.flags.templates import CLIENT, SERVER
from shared.local import emulators, pubsub_admin
from shared.local.functions_server import FunctionServer, start_function
from shared.local.remote_config_sim import Running, console_edit, serve
from shared.local.stack import register_flag_trigger

PROD = "demo-avalo-production"
WAIT_S = 60.0
T = TypeVar("T")
FLAGS: dict[str, dict[str, Any]] = {
    "panicTracking": {"enabled": True, "rolloutPercent": 100, "alwaysOn": True},
    "videoCalls": {"enabled": True, "rolloutPercent": 10},
    "aiCompanions": {"enabled": False, "rolloutPercent": 0},
}


def wait_until(probe: Callable[[], T], what: str) -> T:
    deadline = time.monotonic() + WAIT_S
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class World:
    db: firestore.Client
    control: firestore.Client
    api: RemoteConfigRest
    sim: Running
    governor: FunctionServer

    def flag(self, name: str) -> dict[str, Any]:
        return self.db.collection("featureFlags").document(name).get().to_dict() or {}

    def audit(self, name: str) -> list[dict[str, Any]]:
        ref = self.db.collection("featureFlags").document(name).collection("audit")
        return [d.to_dict() or {} for d in ref.order_by("at").stream()]

    def delivered(self, namespace: str, name: str) -> templates.Delivery | None:
        return templates.read(namespace, self.api.get(PROD, namespace).template, name)


def register(fs_host: str) -> None:
    """The emulator may be slow to answer on a loaded machine (the call has a 10 s timeout)."""
    for attempt in range(3):
        try:
            register_flag_trigger(fs_host, PROD, "on_flag_written")
            return
        except httpx.TimeoutException:
            if attempt == 2:
                raise


@pytest.fixture(scope="module")
def world(
    emulator_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    log_dir: Path = tmp_path_factory.mktemp("remote-config")
    fs_port, rc_port = emulators.free_port(), emulators.free_port()
    fs_host = f"{emulators.HOST}:{fs_port}"
    env = {
        "FIRESTORE_EMULATOR_HOST": fs_host,
        "PUBSUB_EMULATOR_HOST": emulator_env["PUBSUB_EMULATOR_HOST"],
        "GOOGLE_CLOUD_PROJECT": DEFAULT_CONTROL_PROJECT,
        "RELEASECTL_REMOTE_CONFIG_URL": f"http://{emulators.HOST}:{rc_port}",
    }
    publisher = pubsub_v1.PublisherClient()
    pubsub_admin.ensure_topic(publisher, DEFAULT_CONTROL_PROJECT, "release-events")
    started: list[Any] = []
    try:
        guard = start_function("on_flag_written", env, log_dir)
        started.append(guard)
        governor = start_function("on_remote_config_updated", env, log_dir)
        started.append(governor)
        sim = serve(rc_port, deliver_to=[governor.url + "/"])
        started.append(sim)
        fs = emulators.start_firestore(log_dir, port=fs_port, functions_emulator=guard.url[7:])
        started.append(fs)
        register(fs_host)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FIRESTORE_EMULATOR_HOST", fs_host)
            db = firestore.Client(project=PROD)
            control = firestore.Client(project=DEFAULT_CONTROL_PROJECT)
        api = RemoteConfigRest(sim.url, local_token("test@local"))
        for name, doc in FLAGS.items():
            db.collection("featureFlags").document(name).set({**doc, "updatedBy": "migration 002"})
        w = World(db, control, api, sim, governor)
        for namespace in (SERVER, CLIENT):  # the guard published every flag, in both
            wait_until(
                lambda ns=namespace: all(w.delivered(ns, n) for n in FLAGS),  # type: ignore[misc]
                f"the flags in {namespace}",
            )
        yield w
        db.close()
        control.close()
    finally:
        for part in reversed(started):
            part.stop()


def test_a_flag_change_is_published_and_its_versions_audited(world: World) -> None:
    store = FirestoreFlagStore(world.db)
    before = world.api.get(PROD, SERVER).version.version_number
    store.change(
        "videoCalls",
        lambda cur: parse_flag("videoCalls", {**cur.to_doc(), "rolloutPercent": 12.5}),  # type: ignore[union-attr]
        "ops@avalo.app",
        datetime.now(UTC),
    )
    want = templates.Delivery(False, micro=12_500_000, seed="videoCalls")
    wait_until(lambda: world.delivered(SERVER, "videoCalls") == want, "12.5% published")
    wait_until(lambda: world.delivered(CLIENT, "videoCalls") == want, "client template too")
    server = world.api.get(PROD, SERVER).version
    assert server.version_number == before + 1 and server.ours
    entry = wait_until(
        lambda: next(
            (
                e
                for e in world.audit("videoCalls")
                if e.get("templateVersions") and e.get("actor") == "ops@avalo.app"
            ),
            None,
        ),
        "the template versions on the audit entry",
    )
    assert entry["templateVersions"][SERVER] == server.version_number


def test_a_console_edit_turning_a_safety_flag_off_is_rolled_back(world: World) -> None:
    edit = console_edit(
        world.sim.url,
        PROD,
        SERVER,
        "mallory@avalo.app",
        lambda t: t["parameters"]["panicTracking"].update(defaultValue={"value": "false"}),
    )
    number = int(edit["versionNumber"])
    wait_until(
        lambda: world.api.get(PROD, SERVER).version.version_number > number,
        "the revert publish",
    )
    assert world.delivered(SERVER, "panicTracking") == templates.ON
    reverted = wait_until(
        lambda: [e for e in world.audit("panicTracking") if e.get("action") == "reverted"],
        "the revert's audit entry",
    )
    assert reverted[-1]["actor"].startswith("mallory@avalo.app (Remote Config console")
    assert world.flag("panicTracking")["alwaysOn"] is True  # Firestore never changed


def test_a_console_edit_of_a_rollout_is_adopted_into_firestore(world: World) -> None:
    edit = console_edit(
        world.sim.url,
        PROD,
        CLIENT,
        "alice@avalo.app",
        lambda t: next(
            c for c in t["conditions"] if c["name"] == "releasectl.videoCalls.rollout"
        ).update(expression="percent('videoCalls') between 0 and 25"),
    )
    wait_until(lambda: world.flag("videoCalls").get("rolloutPercent") == 25, "25% adopted")
    assert world.flag("videoCalls")["updatedBy"].startswith("alice@avalo.app (Remote Config")
    want = templates.Delivery(False, micro=25_000_000, seed="videoCalls")
    wait_until(lambda: world.delivered(SERVER, "videoCalls") == want, "server template follows")
    client = world.api.get(PROD, CLIENT).version
    assert client.version_number == int(edit["versionNumber"])  # the console's edit stands


def test_a_malformed_update_event_is_dead_lettered(world: World) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "bad-rc-event-1",
        "ce-source": f"//firebaseremoteconfig.googleapis.com/projects/{PROD}",
        "ce-type": "google.firebase.remoteconfig.remoteConfig.v1.updated",
        "content-type": "application/json",
    }
    response = httpx.post(
        world.governor.url + "/", headers=headers, content=b'{"nope": 1}', timeout=60.0
    )
    assert response.status_code < 300  # acknowledged: redelivering could never help
    letter = wait_until(
        lambda: (
            world.control.collection("deadLetters")
            .document("remoteConfig:bad-rc-event-1")
            .get()
            .to_dict()
        ),
        "the dead letter",
    )
    assert "versionNumber" in letter["reason"]
