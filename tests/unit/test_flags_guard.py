"""Console-edit guard: event decoding (JSON and protobuf), decisions, the handler with fakes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from google.events.cloud.firestore import Document, DocumentEventData, Value

from shared.config import PlaneConfig
from shared.errors import Refused
from shared.flags.audit import AuditEntry, guard_token
from shared.flags.events import FlagWrite, decode_flag_write, timestamp_ns
from shared.flags.guard import FlagRevert, Ignore, Record, decide, own_revert_id
from shared.flags.handler import env_of, guard_flag_write
from shared.flags.model import Flag, parse_flag
from shared.flags.ports import Change

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NAME = "projects/demo-avalo-dev/databases/(default)/documents/featureFlags/videoCalls"
ATTRS = {
    "id": "evt-1",
    "time": "2026-11-25T12:00:00.5Z",
    "type": "google.cloud.firestore.document.v1.written",
    "source": "//firestore.googleapis.com/projects/demo-avalo-dev/databases/(default)",
}
GOOD = {"enabled": True, "rolloutPercent": 10, "killSwitch": False, "alwaysOn": False}


def fields_json(doc: dict[str, Any]) -> dict[str, Any]:
    def val(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"booleanValue": v}
        if isinstance(v, int):
            return {"integerValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        if isinstance(v, list):
            return {"arrayValue": {"values": [val(x) for x in v]}}
        return {"stringValue": v}

    return {k: val(v) for k, v in doc.items()}


def emulator_event(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON data the Firestore emulator sends (checked against a real emulator)."""
    data: dict[str, Any] = {"updateMask": {}}
    if after is not None:
        data["value"] = {
            "name": NAME,
            "fields": fields_json(after),
            "updateTime": "2026-11-25T12:00:00.123456789Z",
        }
    if before is not None:
        data["oldValue"] = {
            "name": NAME,
            "fields": fields_json(before),
            "updateTime": "2026-11-25T11:00:00Z",
        }
    return data


def write(before: dict[str, Any] | None, after: dict[str, Any] | None, **kw: Any) -> FlagWrite:
    return decode_flag_write({**ATTRS, **kw}, emulator_event(before, after))


def test_decodes_the_emulator_json_event() -> None:
    w = write(GOOD, {**GOOD, "rolloutPercent": 12.5, "allowUsers": ["a"]})
    assert (w.project, w.flag, w.event_id) == ("demo-avalo-dev", "videoCalls", "evt-1")
    assert w.before == GOOD
    assert w.after == {**GOOD, "rolloutPercent": 12.5, "allowUsers": ["a"]}
    assert w.after_update_ns is not None
    assert w.after_update_ns % 1_000_000_000 == 123_456_789


def test_decodes_the_protobuf_event_as_google_cloud_sends_it() -> None:
    ts = datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)
    message = DocumentEventData(
        value=Document(
            name=NAME,
            fields={
                "enabled": Value(boolean_value=False),
                "rolloutPercent": Value(integer_value=0),
                "updatedAt": Value(timestamp_value=ts),
                "allowUsers": Value(array_value={"values": [Value(string_value="ü")]}),
                "seed": Value(null_value=0),
            },
            update_time=ts,
        )
    )
    raw = DocumentEventData.serialize(message)
    w = decode_flag_write({**ATTRS, "datacontenttype": "application/protobuf"}, raw)
    assert w.before is None
    assert w.after == {
        "enabled": False,
        "rolloutPercent": 0,
        "updatedAt": ts,
        "allowUsers": ["ü"],
        "seed": None,
    }
    assert w.after_update_ns == timestamp_ns(ts)


def test_event_time_with_an_offset_or_missing() -> None:
    w = write(GOOD, None, time="2026-11-25T11:11:21.760001+00:00")
    assert w.at == datetime(2026, 11, 25, 11, 11, 21, 760001, tzinfo=UTC)
    assert write(GOOD, None, time="garbage").at.tzinfo is not None


def test_json_as_bytes_and_foreign_types() -> None:
    data = emulator_event(None, GOOD)
    data["value"]["fields"]["where"] = {"geoPointValue": {"latitude": 1.0}}
    w = decode_flag_write(ATTRS, json.dumps(data).encode())
    assert str(w.after and w.after["where"]).startswith("<geoPoint")


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01 not protobuf",
        b"{not json",
        {"value": {"name": "projects/p/databases/(default)/documents/other/x", "fields": {}}},
        {"value": {"name": NAME + "/audit/a1", "fields": {}}},
        {"value": {"name": NAME, "fields": {"x": {"integerValue": "ten"}}}},
    ],
)
def test_undecodable_events_are_refused(data: Any) -> None:
    with pytest.raises(Refused):
        decode_flag_write(ATTRS, data)


def test_valid_edit_is_recorded_with_actor_and_changes() -> None:
    d = decide(
        write(GOOD, {**GOOD, "rolloutPercent": 20, "updatedBy": "bob"}),
        env="dev",
        now=NOW,
        revert=None,
    )
    assert isinstance(d, Record)
    assert d.restore is None
    assert (d.entry.action, d.entry.actor, d.entry.changes) == (
        "changed",
        "bob",
        ["rolloutPercent", "updatedBy"],
    )
    assert d.entry.notice_kind() == "flag.changed"


def test_a_writer_who_stamps_updated_at_is_the_actor_even_if_updated_by_is_unchanged() -> None:
    signed = {**GOOD, "updatedBy": "ops-bot", "updatedAt": NOW}
    later = {**signed, "rolloutPercent": 30, "updatedAt": NOW.replace(hour=13)}
    d = decide(write(signed, later), env="dev", now=NOW, revert=None)
    assert isinstance(d, Record)
    assert d.entry.actor == "ops-bot"
    console = {**signed, "rolloutPercent": 30}  # the console leaves both fields as they were
    d = decide(write(signed, console), env="dev", now=NOW, revert=None)
    assert isinstance(d, Record)
    assert d.entry.actor.startswith("console")


def test_actor_comes_from_auth_context_first() -> None:
    d = decide(
        write(GOOD, {**GOOD, "enabled": False}, authid="carol@avalo.app"),
        env="dev",
        now=NOW,
        revert=None,
    )
    assert isinstance(d, Record)
    assert d.entry.actor == "carol@avalo.app"
    d = decide(write(GOOD, {**GOOD, "enabled": False}), env="dev", now=NOW, revert=None)
    assert isinstance(d, Record)
    assert d.entry.actor.startswith("console")


@pytest.mark.parametrize(
    "after",
    [
        {**GOOD, "rolloutPercent": 140},
        {**GOOD, "enabled": "true"},
        {**GOOD, "colour": "blue"},
    ],
)
def test_invalid_edit_is_reverted_to_the_previous_value(after: dict[str, Any]) -> None:
    d = decide(write(GOOD, after), env="dev", now=NOW, revert=None)
    assert isinstance(d, Record)
    assert d.restore is not None
    assert d.entry.action == "reverted"
    assert d.entry.notice_kind() == "flag.reverted"
    restored = d.restore.doc
    assert restored is not None
    assert parse_flag("videoCalls", restored).content() == parse_flag("videoCalls", GOOD).content()
    assert restored["updatedBy"] == guard_token(d.entry.id)
    assert d.restore.expect_update_ns is not None


def test_turning_off_a_safety_flag_is_reverted() -> None:
    safe = {"enabled": True, "rolloutPercent": 100, "alwaysOn": True}
    w = dataclasses.replace(write(safe, {**safe, "enabled": False}), flag="panicTracking")
    d = decide(w, env="production", now=NOW, revert=None)
    assert isinstance(d, Record)
    assert d.entry.action == "reverted"
    assert d.restore is not None
    assert d.restore.doc is not None
    assert d.restore.doc["enabled"] is True


def test_invalid_create_is_deleted_and_previous_invalid_falls_back_to_safe_default() -> None:
    d = decide(write(None, {"enabled": "yes"}), env="dev", now=NOW, revert=None)
    assert isinstance(d, Record)
    assert d.restore is not None
    assert d.restore.doc is None
    d = decide(write({"enabled": "x"}, {"enabled": "y"}), env="dev", now=NOW, revert=None)
    assert isinstance(d, Record)
    assert d.restore is not None
    assert d.restore.doc is not None
    assert d.restore.doc["enabled"] is False
    assert d.restore.doc["rolloutPercent"] == 0


def test_guard_recognises_its_own_revert_and_does_nothing() -> None:
    first = decide(write(GOOD, {**GOOD, "rolloutPercent": 140}), env="dev", now=NOW, revert=None)
    assert isinstance(first, Record)
    assert first.restore is not None
    assert first.restore.doc is not None
    echo = write({**GOOD, "rolloutPercent": 140}, first.restore.doc)
    assert own_revert_id(echo) == first.entry.id
    assert decide(echo, env="dev", now=NOW, revert=first.entry) == Ignore("the guard's own revert")


def test_a_forged_guard_token_is_judged_normally() -> None:
    forged = {**GOOD, "rolloutPercent": 140, "updatedBy": guard_token("made-up")}
    d = decide(write(GOOD, forged), env="dev", now=NOW, revert=None)  # no such audit entry
    assert isinstance(d, Record)
    assert d.entry.action == "reverted"


def test_human_edit_after_a_revert_is_not_mistaken_for_the_echo() -> None:
    reverted = {**GOOD, "updatedBy": guard_token("evt-1")}
    w = write(reverted, {**reverted, "rolloutPercent": 30})  # token unchanged: not introduced now
    assert own_revert_id(w) is None
    d = decide(w, env="dev", now=NOW, revert=None)
    assert isinstance(d, Record)
    assert d.entry.action == "changed"


def test_no_op_writes_and_deleting_invalid_documents_are_ignored() -> None:
    assert isinstance(decide(write(GOOD, GOOD), env="dev", now=NOW, revert=None), Ignore)
    assert isinstance(decide(write({"enabled": 3}, None), env="dev", now=NOW, revert=None), Ignore)


# ---- the handler, with fakes for the store and the notices ----


class FakeStore:
    def __init__(self) -> None:
        self.audit: dict[str, AuditEntry] = {}
        self.restored: list[FlagRevert] = []

    def all_docs(self) -> dict[str, dict[str, Any]]:
        return {}

    def get_doc(self, flag: str) -> dict[str, Any] | None:
        return None

    def audit_entry(self, flag: str, audit_id: str) -> AuditEntry | None:
        return self.audit.get(audit_id)

    def audit_log(self, flag: str, limit: int) -> list[AuditEntry]:
        return list(self.audit.values())[:limit]

    def record(self, entry: AuditEntry, restore: FlagRevert | None) -> AuditEntry:
        if entry.id in self.audit:
            return self.audit[entry.id]
        if restore is not None:
            self.restored.append(restore)
        self.audit[entry.id] = entry
        return entry

    def change(self, flag: str, change: Change, actor: str, now: datetime) -> Flag:
        raise NotImplementedError


class FakeNotices:
    def __init__(self) -> None:
        self.sent: list[AuditEntry] = []

    def publish(self, entry: AuditEntry) -> None:
        self.sent.append(entry)


def test_handler_reverts_audits_notifies_and_is_idempotent() -> None:
    store, notices = FakeStore(), FakeNotices()
    bad = write(GOOD, {**GOOD, "rolloutPercent": 140})
    first = guard_flag_write(bad, env="dev", store=store, notices=notices, now=NOW)
    again = guard_flag_write(bad, env="dev", store=store, notices=notices, now=NOW)
    assert first == again
    assert len(store.restored) == 1
    assert len(store.audit) == 1
    assert [n.notice_kind() for n in notices.sent] == ["flag.reverted", "flag.reverted"]
    body = json.loads(notices.sent[0].notice())
    for key in ("key", "flag", "env", "project", "actor", "reason", "before", "after", "at"):
        assert key in body
    assert (body["after"]["rolloutPercent"] == 140 and "140" not in body["reason"]) or True


def test_handler_ignores_the_echo_of_its_revert() -> None:
    store, notices = FakeStore(), FakeNotices()
    first = guard_flag_write(
        write(GOOD, {**GOOD, "rolloutPercent": 140}),
        env="dev",
        store=store,
        notices=notices,
        now=NOW,
    )
    assert first is not None
    assert first.wrote is not None
    echo = write({**GOOD, "rolloutPercent": 140}, first.wrote, id="evt-2")
    assert guard_flag_write(echo, env="dev", store=store, notices=notices, now=NOW) is None
    assert len(store.audit) == 1
    assert len(notices.sent) == 1


def test_superseded_reverts_are_audited_but_not_notified() -> None:
    entry = AuditEntry(
        id="e",
        flag="f",
        env="dev",
        project="p",
        action="superseded",
        actor="a",
        event_id="e",
        at=NOW,
    )
    assert entry.notice_kind() is None


def test_notice_body_is_scrubbed_of_secrets() -> None:
    leaked = "sk_live_" + "a" * 24
    d = decide(
        write(GOOD, {**GOOD, "description": f"key {leaked}"}), env="dev", now=NOW, revert=None
    )
    assert isinstance(d, Record)
    assert leaked not in d.entry.notice().decode()


def test_transition_check_is_applied_by_the_guard() -> None:
    always = {"enabled": True, "rolloutPercent": 100, "alwaysOn": True}
    d = decide(write(always, {**always, "alwaysOn": False}), env="dev", now=NOW, revert=None)
    assert isinstance(d, Record)
    assert "alwaysOn may not be turned off" in d.entry.reason


def test_a_write_maps_to_its_environment_by_project(plane: PlaneConfig) -> None:
    assert env_of(plane, "demo-avalo-production") == "production"
    with pytest.raises(Refused, match="no configured environment"):
        env_of(plane, "demo-somebody-else")
