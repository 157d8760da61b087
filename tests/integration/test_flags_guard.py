"""The console-edit guard on the real trigger path: a Firestore emulator with
`--functions_emulator` delivers raw writes (as the Firebase console makes them) to a
functions-framework server running `on_flag_written`; notices land on the Pub/Sub emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]
from google.events.cloud.firestore import Document, DocumentEventData, Value

from shared.config import DEFAULT_CONTROL_PROJECT
from shared.flags.audit import GUARD_ACTOR
from shared.local import emulators, pubsub_admin
from shared.local.functions_server import FunctionServer, start_function
from shared.local.stack import register_flag_trigger

DEV = "demo-avalo-dev"
STAGING = "demo-avalo-staging"
WAIT_S = 30.0
T = TypeVar("T")


@dataclass
class Guarded:
    db: firestore.Client
    staging: firestore.Client  # a project with no trigger: events are posted by hand
    subscriber: Any
    subscription: str
    function: FunctionServer

    def flag(self, name: str) -> Any:
        return self.db.collection("featureFlags").document(name)

    def audit(self, name: str) -> list[dict[str, Any]]:
        docs = self.flag(name).collection("audit").order_by("at").stream()
        return [d.to_dict() or {} for d in docs]

    def notices(self, want: int) -> list[tuple[dict[str, str], dict[str, Any]]]:
        got: list[tuple[dict[str, str], dict[str, Any]]] = []

        def pulled() -> bool:
            resp = self.subscriber.pull(
                request={"subscription": self.subscription, "max_messages": 50}, timeout=5
            )
            for m in resp.received_messages:
                got.append((dict(m.message.attributes), json.loads(m.message.data)))
            if resp.received_messages:
                ack = [m.ack_id for m in resp.received_messages]
                self.subscriber.acknowledge(
                    request={"subscription": self.subscription, "ack_ids": ack}
                )
            return len(got) >= want

        wait_until(pulled, "notices on release-events")
        return got

    def log_has(self, text: str) -> bool:
        return text in self.function.log_path.read_text(errors="replace")


def wait_until(probe: Callable[[], T], what: str) -> T:
    """Poll until `probe` is truthy (delivery is asynchronous); fail naming what never came."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def guarded(
    emulator_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Guarded]:
    log_dir: Path = tmp_path_factory.mktemp("flag-guard")
    fs_port = emulators.free_port()
    fs_host = f"{emulators.HOST}:{fs_port}"
    env = {
        "FIRESTORE_EMULATOR_HOST": fs_host,
        "PUBSUB_EMULATOR_HOST": emulator_env["PUBSUB_EMULATOR_HOST"],
        "GOOGLE_CLOUD_PROJECT": DEFAULT_CONTROL_PROJECT,
    }
    function = start_function("on_flag_written", env, log_dir)
    try:
        fs = emulators.start_firestore(log_dir, port=fs_port, functions_emulator=function.url[7:])
    except BaseException:
        function.stop()
        raise
    try:
        register_trigger(fs_host, DEV)
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        pubsub_admin.ensure_topic(publisher, DEFAULT_CONTROL_PROJECT, "release-events")
        sub = pubsub_admin.ensure_pull_subscription(
            subscriber, DEFAULT_CONTROL_PROJECT, "release-events", "flag-guard-test"
        )
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FIRESTORE_EMULATOR_HOST", fs_host)  # the client binds its host at init
            db = firestore.Client(project=DEV)
            staging = firestore.Client(project=STAGING)
        yield Guarded(db, staging, subscriber, sub, function)
        db.close()
        staging.close()
    finally:
        fs.stop()
        function.stop()


def register_trigger(host: str, project: str) -> None:
    register_flag_trigger(host, project, "on_flag_written")


GOOD = {
    "enabled": True,
    "rolloutPercent": 10,
    "killSwitch": False,
    "alwaysOn": False,
    "allowUsers": [],
    "denyUsers": [],
    "owner": "calls-team",
    "description": "video calls",
    "updatedBy": "migration 002",
}


def seed(g: Guarded, name: str, doc: dict[str, Any]) -> None:
    g.flag(name).set(doc)
    wait_until(lambda: g.audit(name), f"{name} creation audited")


def actions(g: Guarded, name: str) -> list[str]:
    return [a["action"] for a in g.audit(name)]


def test_invalid_console_edit_is_reverted_audited_and_notified(guarded: Guarded) -> None:
    g = guarded
    seed(g, "videoCalls", GOOD)
    g.flag("videoCalls").update({"rolloutPercent": 140})  # what a console edit does
    wait_until(lambda: "reverted" in actions(g, "videoCalls"), "the revert")
    doc = g.flag("videoCalls").get().to_dict() or {}
    assert doc["rolloutPercent"] == 10
    assert doc["updatedBy"].startswith(GUARD_ACTOR)
    (entry,) = [a for a in g.audit("videoCalls") if a["action"] == "reverted"]
    assert "rolloutPercent" in entry["reason"]
    assert entry["after"]["rolloutPercent"] == 140
    assert entry["before"]["rolloutPercent"] == 10
    kinds = [
        (attrs["kind"], body["flag"], body["env"])
        for attrs, body in g.notices(2)
        if body["flag"] == "videoCalls"
    ]
    assert ("flag.reverted", "videoCalls", "dev") in kinds


def test_the_guard_ignores_its_own_revert(guarded: Guarded) -> None:
    g = guarded
    seed(g, "events", {**GOOD, "rolloutPercent": 5})
    g.flag("events").update({"colour": "blue"})  # unknown field
    wait_until(lambda: "reverted" in actions(g, "events"), "the revert")
    wait_until(lambda: g.log_has("the guard's own revert"), "the echo to be seen and ignored")
    g.flag("events").update({"rolloutPercent": 7, "updatedBy": "dana"})  # a valid edit after
    wait_until(lambda: actions(g, "events")[-1:] == ["changed"], "the valid edit audited")
    assert actions(g, "events") == ["created", "reverted", "changed"]
    doc = g.flag("events").get().to_dict() or {}
    assert doc["rolloutPercent"] == 7
    assert "colour" not in doc
    assert g.audit("events")[-1]["actor"] == "dana"


def test_a_valid_console_edit_is_kept_and_audited(guarded: Guarded) -> None:
    g = guarded
    seed(g, "chatBilling", {**GOOD, "enabled": False, "rolloutPercent": 0})
    g.flag("chatBilling").update({"enabled": True, "rolloutPercent": 2.5, "updatedBy": "erin"})
    wait_until(lambda: "changed" in actions(g, "chatBilling"), "the change audited")
    doc = g.flag("chatBilling").get().to_dict() or {}
    assert (doc["enabled"], doc["rolloutPercent"]) == (True, 2.5)
    changed = g.audit("chatBilling")[-1]
    assert changed["actor"] == "erin"
    assert changed["changes"] == ["enabled", "rolloutPercent", "updatedBy"]


def test_turning_off_a_safety_flag_or_deleting_it_is_undone(guarded: Guarded) -> None:
    g = guarded
    safe = {"enabled": True, "rolloutPercent": 100, "alwaysOn": True, "owner": "trust-safety"}
    seed(g, "panicTracking", safe)
    g.flag("panicTracking").update({"enabled": False})
    wait_until(lambda: actions(g, "panicTracking").count("reverted") == 1, "the revert")
    assert (g.flag("panicTracking").get().to_dict() or {})["enabled"] is True
    g.flag("panicTracking").delete()
    wait_until(lambda: actions(g, "panicTracking").count("reverted") == 2, "the re-creation")
    doc = g.flag("panicTracking").get().to_dict() or {}
    assert (doc["enabled"], doc["alwaysOn"], doc["owner"]) == (True, True, "trust-safety")


def test_wrong_types_are_reverted(guarded: Guarded) -> None:
    g = guarded
    seed(g, "aiCompanions", {**GOOD, "enabled": False, "rolloutPercent": 0})
    g.flag("aiCompanions").update({"enabled": "true"})  # a string typed into the console
    wait_until(lambda: "reverted" in actions(g, "aiCompanions"), "the revert")
    assert (g.flag("aiCompanions").get().to_dict() or {})["enabled"] is False


def _pb_fields(doc: dict[str, Any]) -> dict[str, Value]:
    def val(v: Any) -> Value:
        if isinstance(v, bool):
            return Value(boolean_value=v)
        if isinstance(v, int):
            return Value(integer_value=v)
        if isinstance(v, list):
            return Value(array_value={"values": [val(x) for x in v]})
        return Value(string_value=v)

    return {k: val(v) for k, v in doc.items()}


def test_protobuf_event_as_google_cloud_sends_it_is_decoded_and_judged(guarded: Guarded) -> None:
    g = guarded
    ref = g.staging.collection("featureFlags").document("videoCalls")
    ref.set(GOOD)
    ref.update({"rolloutPercent": 140})
    snap = ref.get()
    name = f"projects/{STAGING}/databases/(default)/documents/featureFlags/videoCalls"
    data = DocumentEventData(
        old_value=Document(name=name, fields=_pb_fields(GOOD)),
        value=Document(
            name=name, fields=_pb_fields(snap.to_dict() or {}), update_time=snap.update_time
        ),
    )
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "protobuf-event-1",
        "ce-type": "google.cloud.firestore.document.v1.written",
        "ce-source": f"//firestore.googleapis.com/projects/{STAGING}/databases/(default)",
        "ce-subject": "documents/featureFlags/videoCalls",
        "content-type": "application/protobuf",
    }
    body = DocumentEventData.serialize(data)
    response = httpx.post(g.function.url + "/", content=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert (ref.get().to_dict() or {})["rolloutPercent"] == 10
    audit = [d.to_dict() or {} for d in ref.collection("audit").stream()]
    assert [(a["action"], a["env"], a["eventId"]) for a in audit] == [
        ("reverted", "staging", "protobuf-event-1")
    ]
