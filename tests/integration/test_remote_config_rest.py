"""The Remote Config REST adapter against the loopback simulator (same paths as Google's), and
the publisher over the Firestore emulator: ETag conflicts, validateOnly, quota retries,
versions, rollback, coalescing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import firestore

from shared.config import PlaneConfig
from shared.flags import templates
from shared.flags.publishing import TemplatePublisher
from shared.flags.remote_config import RemoteConfigRest, local_token
from shared.flags.store import FirestoreFlagStore
from shared.flags.templates import CLIENT, SERVER, Delivery
from shared.flags.versions import EtagMismatch, RemoteConfigUnavailable, TemplateRejected
from shared.local import emulators
from shared.local.remote_config_sim import Running, console_edit, serve

DEV = "demo-avalo-dev"
TEN_PERCENT = Delivery(False, micro=10_000_000, seed="videoCalls")
ME = "releasectl@demo-release-control.local"


@pytest.fixture
def sim() -> Iterator[Running]:
    running = serve()
    yield running
    running.stop()


@pytest.fixture
def api(sim: Running) -> RemoteConfigRest:
    return RemoteConfigRest(sim.url, local_token(ME), backoff_s=0.01)


def fault(sim: Running, status: int, count: int) -> None:
    sim.simulator.faults.extend([status] * count)


def welcome(template: dict[str, Any]) -> None:
    template.setdefault("parameters", {})["welcome"] = {"defaultValue": {"value": "hi"}}


def test_a_stale_etag_is_refused_and_a_fresh_one_accepted(
    api: RemoteConfigRest, sim: Running
) -> None:
    first = api.get(DEV, CLIENT)
    assert first.version.version_number == 0
    console_edit(sim.url, DEV, CLIENT, "alice@avalo.app", welcome)
    with pytest.raises(EtagMismatch):
        api.publish(DEV, CLIENT, {"parameters": {}}, first.etag, description="releasectl: x")
    fresh = api.get(DEV, CLIENT)
    done = api.publish(DEV, CLIENT, fresh.template, fresh.etag, description="releasectl: x")
    assert done.version.version_number == 2 and done.version.ours
    versions = api.list_versions(DEV, CLIENT)
    assert [(v.version_number, v.who, v.update_origin) for v in versions] == [
        (2, ME, "REST_API"),
        (1, "alice@avalo.app", "CONSOLE"),
    ]
    assert not versions[1].ours  # a console edit is never taken for ours


def test_validate_only_checks_without_publishing(api: RemoteConfigRest) -> None:
    etag = api.get(DEV, SERVER).etag
    api.publish(DEV, SERVER, {"parameters": {"ok": {}}}, etag, description="v", validate_only=True)
    assert api.get(DEV, SERVER).version.version_number == 0
    bad = {"parameters": {"bad-key": {"defaultValue": {"value": "1"}}}}
    with pytest.raises(TemplateRejected, match="bad-key"):
        api.publish(DEV, SERVER, bad, etag, description="v", validate_only=True)


def test_quota_errors_are_retried_then_reported(api: RemoteConfigRest, sim: Running) -> None:
    fault(sim, 429, 2)
    fault(sim, 503, 1)
    assert api.get(DEV, CLIENT).version.version_number == 0  # after three failures
    fault(sim, 429, 10)
    with pytest.raises(RemoteConfigUnavailable, match="429"):
        api.get(DEV, CLIENT)


def test_rollback_republishes_an_old_version(api: RemoteConfigRest, sim: Running) -> None:
    console_edit(sim.url, DEV, CLIENT, "alice@avalo.app", welcome)
    console_edit(sim.url, DEV, CLIENT, "bob@avalo.app", lambda t: t["parameters"].clear())
    done = api.rollback(DEV, CLIENT, 1)
    assert done.version.update_type == "ROLLBACK" and done.version.rollback_source == 1
    assert api.get(DEV, CLIENT).template["parameters"] == {
        "welcome": {"defaultValue": {"value": "hi"}}
    }
    assert api.get(DEV, CLIENT, version=2).template["parameters"] == {}


def test_every_change_is_delivered_as_an_eventarc_cloud_event(sim: Running) -> None:
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[dict[str, str], dict[str, Any]]] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((dict(self.headers), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sim.simulator.deliver_to.append(f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        console_edit(sim.url, DEV, CLIENT, "alice@avalo.app", welcome)
        deadline = 100
        while not got and deadline:
            threading.Event().wait(0.05)
            deadline -= 1
    finally:
        server.shutdown()
        server.server_close()
    headers, data = got[0]
    assert headers["ce-type"] == "google.firebase.remoteconfig.remoteConfig.v1.updated"
    assert headers["ce-source"] == f"//firebaseremoteconfig.googleapis.com/projects/{DEV}"
    assert data["versionNumber"] == "1" and data["updateOrigin"] == "CONSOLE"
    assert data["updateUser"] == {"email": "alice@avalo.app"}


# -- the publisher over the Firestore emulator -------------------------------------------------


@pytest.fixture
def flags_db(emulator_env: dict[str, str]) -> Iterator[firestore.Client]:
    emulators.reset_firestore(emulator_env["FIRESTORE_EMULATOR_HOST"], DEV)
    db = firestore.Client(project=DEV)
    yield db
    db.close()


def put_flag(db: firestore.Client, name: str, **doc: Any) -> None:
    db.collection("featureFlags").document(name).set(doc)


def publisher(plane: PlaneConfig, db: firestore.Client, api: Any) -> TemplatePublisher:
    store = FirestoreFlagStore(db)
    return TemplatePublisher(plane=plane, stores=lambda _project: store, api=api)


def test_publishing_renders_firestore_and_keeps_what_is_not_ours(
    plane: PlaneConfig, flags_db: firestore.Client, api: RemoteConfigRest, sim: Running
) -> None:
    console_edit(sim.url, DEV, CLIENT, "alice@avalo.app", welcome)
    put_flag(flags_db, "videoCalls", enabled=True, rolloutPercent=10)
    put_flag(flags_db, "wallet", enabled=True, rolloutPercent=100, killSwitch=True)
    put_flag(flags_db, "broken", enabled="yes", rolloutPercent=10)  # invalid: left alone
    pub = publisher(plane, flags_db, api)
    first = pub.publish("dev")
    assert first.versions == {SERVER: 1, CLIENT: 2} and first.wrote == {SERVER: True, CLIENT: True}
    client = api.get(DEV, CLIENT).template
    assert client["parameters"]["welcome"] == {"defaultValue": {"value": "hi"}}
    assert "broken" not in client["parameters"]
    assert templates.read(CLIENT, client, "videoCalls") == TEN_PERCENT
    assert templates.read(SERVER, api.get(DEV, SERVER).template, "wallet") == templates.OFF
    again = pub.publish("dev")  # nothing changed: nothing published
    assert again.versions == first.versions and again.wrote == {SERVER: False, CLIENT: False}


class ConsoleRacesOnce:
    """The adapter, with a console edit slipped in between our read and our publish."""

    def __init__(self, api: RemoteConfigRest, url: str) -> None:
        self.api, self.url, self.raced = api, url, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)

    def publish(self, project: str, namespace: str, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("validate_only") and not self.raced:
            self.raced = True
            console_edit(self.url, project, namespace, "carol@avalo.app", welcome)
        return self.api.publish(project, namespace, *args, **kwargs)


def test_a_conflict_is_read_again_and_applied_again(
    plane: PlaneConfig, flags_db: firestore.Client, api: RemoteConfigRest, sim: Running
) -> None:
    put_flag(flags_db, "videoCalls", enabled=True, rolloutPercent=10)
    racing = ConsoleRacesOnce(api, sim.url)
    done = publisher(plane, flags_db, racing).publish("dev")
    assert racing.raced and done.versions[SERVER] == 2  # the console's v1, then ours
    template = api.get(DEV, SERVER).template
    assert "welcome" in template["parameters"]  # the console's edit survived our publish
    assert templates.read(SERVER, template, "videoCalls") == TEN_PERCENT


def test_a_burst_of_publishes_coalesces(
    plane: PlaneConfig, flags_db: firestore.Client, api: RemoteConfigRest
) -> None:
    pub = publisher(plane, flags_db, api)
    barrier = threading.Barrier(10)

    def change(i: int) -> None:
        put_flag(flags_db, f"flag{i}", enabled=True, rolloutPercent=i + 1)
        barrier.wait()
        pub.publish("dev")

    threads = [threading.Thread(target=change, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = api.list_versions(DEV, SERVER)
    assert 1 <= len(versions) <= 2  # ten calls, at most one run plus one catching up
    template = api.get(DEV, SERVER).template
    assert {f"flag{i}" for i in range(10)} <= set(template["parameters"])


# -- releasectl flags publish / status / history, and a change Remote Config would refuse ------


@pytest.fixture
def cli_env(sim: Running, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from typer.testing import CliRunner

    from shared.cli import context, flags_cmds

    monkeypatch.setenv("RELEASECTL_REMOTE_CONFIG_URL", sim.url)
    context.settings.cache_clear()
    runner = CliRunner()
    # dave holds the `flags` role (tests/integration/conftest.py): changes are signed commands
    yield lambda *args: runner.invoke(flags_cmds.app, list(args), env={"RELEASECTL_ACTOR": "dave"})
    context.settings.cache_clear()


def test_flags_publish_status_and_history(
    flags_db: firestore.Client, cli_env: Any, sim: Running
) -> None:
    import json

    put_flag(flags_db, "videoCalls", enabled=True, rolloutPercent=10)
    drifted = json.loads(cli_env("status", "--env", "dev", "--json").stdout)
    assert drifted["templates"][SERVER]["drift"] == {"videoCalls": "missing from the template"}
    done = cli_env("publish", "--env", "dev", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["published"] == {SERVER: True, CLIENT: True}
    console_edit(sim.url, DEV, CLIENT, "alice@avalo.app", welcome)
    status = json.loads(cli_env("status", "--env", "dev", "--json").stdout)
    assert status["templates"][SERVER]["drift"] == {} and status["templates"][CLIENT]["drift"] == {}
    assert status["templates"][CLIENT]["version"]["updateUser"]["email"] == "alice@avalo.app"
    history = json.loads(cli_env("history", "--env", "dev", "--json").stdout)
    assert [v["updateOrigin"] for v in history[CLIENT]] == ["CONSOLE", "REST_API"]
    assert history[CLIENT][1]["description"].startswith("releasectl: releasectl flags publish")


def test_a_change_remote_config_would_refuse_is_not_written(
    wiring: Any, flags_db: firestore.Client, cli_env: Any
) -> None:
    result = cli_env("set", "new-flag", "--create", "--enabled", "--rollout", "5", "--env", "dev")
    assert result.exit_code == 2
    assert "cannot be a Remote Config parameter key" in result.output
    assert not flags_db.collection("featureFlags").document("new-flag").get().exists
    ok = cli_env("set", "newFlag", "--create", "--enabled", "--rollout", "5", "--env", "dev")
    assert ok.exit_code == 0, ok.output
