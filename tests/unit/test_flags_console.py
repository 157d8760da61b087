"""Console edits of Remote Config: the policy (adopt / revert / ignore), the governor with
fakes (loop avoidance, superseded versions, revert by republishing), the event decoder and the
boundary's dead letters."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.config import DEFAULT_CONFIG_FILE, PlaneConfig, load_config
from shared.entrypoints import govern_remote_config_event
from shared.errors import Refused
from shared.flags import templates
from shared.flags.audit import AuditEntry
from shared.flags.console import Adopt, Revert, judge
from shared.flags.guard import FlagRevert
from shared.flags.handler import RemoteConfigGovernor
from shared.flags.model import Flag, check_transition, parse_flag
from shared.flags.ports import Change
from shared.flags.publishing import TemplatePublisher
from shared.flags.rc_events import EVENT_TYPE, decode_update
from shared.flags.templates import CLIENT, SERVER
from shared.flags.versions import EtagMismatch, Fetched, Version
from shared.local.remote_config_sim import Simulator, _Error

from .fakes import FakeDeadLetters

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PROD = "demo-avalo-production"
STAGING = "demo-avalo-staging"
PLANE: PlaneConfig = load_config(DEFAULT_CONFIG_FILE)
DOCS: dict[str, dict[str, Any]] = {
    "videoCalls": {"enabled": True, "rolloutPercent": 10},
    "aiCompanions": {"enabled": False, "rolloutPercent": 0},
    "panicTracking": {"enabled": True, "rolloutPercent": 100, "alwaysOn": True},
    "wallet": {"enabled": True, "rolloutPercent": 100},
}


def flags() -> dict[str, Flag]:
    return {n: parse_flag(n, d) for n, d in DOCS.items()}


def template(namespace: str, fl: dict[str, Flag] | None = None) -> dict[str, Any]:
    return templates.merge(namespace, {"conditions": [], "parameters": {}}, fl or flags())


def edited(namespace: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    tpl = template(namespace)
    edit(tpl)
    return tpl


def set_default(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def edit(tpl: dict[str, Any]) -> None:
        tpl["parameters"][name]["defaultValue"] = {"value": value}

    return edit


def set_percent(percent: str) -> Callable[[dict[str, Any]], None]:
    def edit(tpl: dict[str, Any]) -> None:
        for cond in tpl["conditions"]:
            if cond["name"] == "releasectl.videoCalls.rollout":
                cond["expression"] = f"percent('videoCalls') between 0 and {percent}"

    return edit


# -- the policy -------------------------------------------------------------------------------


def test_an_untouched_template_needs_nothing() -> None:
    for ns in (SERVER, CLIENT):
        assert judge(PLANE.env("production"), ns, template(ns), flags()) == []


def test_turning_a_safety_flag_off_is_reverted() -> None:
    tpl = edited(SERVER, set_default("panicTracking", "false"))
    (decision,) = judge(PLANE.env("production"), SERVER, tpl, flags())
    assert isinstance(decision, Revert) and decision.flag == "panicTracking"
    assert "always-on flag must stay enabled" in decision.reason


def test_a_rollout_percent_is_adopted() -> None:
    (decision,) = judge(PLANE.env("production"), CLIENT, edited(CLIENT, set_percent("25")), flags())
    assert isinstance(decision, Adopt) and decision.what == "rollout 10% → 25%"
    assert decision.after.rollout_percent == 25 and decision.after.enabled


@pytest.mark.parametrize(
    ("percent", "why"), [("150", "outside 0-100"), ("12.345", "at most two decimals")]
)
def test_impossible_percents_are_reverted(percent: str, why: str) -> None:
    (decision,) = judge(PLANE.env("dev"), CLIENT, edited(CLIENT, set_percent(percent)), flags())
    assert isinstance(decision, Revert) and why in decision.reason


def test_a_kill_switch_turned_on_is_adopted_even_in_production() -> None:
    tpl = edited(
        SERVER, lambda t: t["parameters"]["wallet"].update(defaultValue={"value": "false"})
    )
    (decision,) = judge(PLANE.env("production"), SERVER, tpl, flags())
    assert isinstance(decision, Adopt) and decision.after.kill_switch
    assert decision.what == "kill switch on"


def test_turning_a_flag_on_needs_a_release_where_approvals_are_required() -> None:
    tpl = edited(CLIENT, set_default("aiCompanions", "true"))
    (prod,) = judge(PLANE.env("production"), CLIENT, tpl, flags())
    assert isinstance(prod, Revert) and "goes through a release" in prod.reason
    (staging,) = judge(PLANE.env("staging"), CLIENT, tpl, flags())
    assert isinstance(staging, Adopt) and staging.after.enabled
    assert staging.after.rollout_percent == 100


def test_a_deleted_parameter_a_changed_seed_and_foreign_shapes_are_reverted() -> None:
    env = PLANE.env("dev")
    gone = edited(CLIENT, lambda t: t["parameters"].pop("videoCalls"))
    assert [d.reason for d in judge(env, CLIENT, gone, flags())] == [
        "a managed parameter was deleted"
    ]
    reseeded = edited(
        SERVER,
        lambda t: t["conditions"][0]["condition"]["orCondition"]["conditions"][0]["andCondition"][
            "conditions"
        ][0]["percent"].update(seed="other"),
    )
    (decision,) = judge(env, SERVER, reseeded, flags())
    assert isinstance(decision, Revert) and "seed" in decision.reason
    foreign = edited(
        CLIENT,
        lambda t: (
            t["conditions"].append({"name": "ios", "expression": "device.os == 'ios'"}),
            t["parameters"]["videoCalls"]
            .setdefault("conditionalValues", {})
            .update(ios={"value": "true"}),
        ),
    )
    (decision,) = judge(env, CLIENT, foreign, flags())
    assert isinstance(decision, Revert) and "not a shape releasectl publishes" in decision.reason


def test_parameters_that_are_not_ours_are_ignored() -> None:
    def theirs(tpl: dict[str, Any]) -> None:
        tpl["parameters"]["welcome"] = {"defaultValue": {"value": "hello"}}
        tpl["conditions"].insert(0, {"name": "ios", "expression": "device.os == 'ios'"})

    assert judge(PLANE.env("production"), CLIENT, edited(CLIENT, theirs), flags()) == []


def test_adopted_values_pass_the_stores_transition_rules() -> None:
    (decision,) = judge(PLANE.env("dev"), CLIENT, edited(CLIENT, set_percent("2.5")), flags())
    assert isinstance(decision, Adopt)
    check_transition("videoCalls", decision.before, decision.after)


# -- the governor, with fakes -------------------------------------------------------------------


class SimApi:
    """The simulator's state machine without HTTP, as the `RemoteConfig` port."""

    def __init__(self) -> None:
        self.sim = Simulator()
        self.calls: list[str] = []

    def get(self, project: str, namespace: str, version: int | None = None) -> Fetched:
        self.calls.append("get")
        tpl = self.sim.get(project, namespace, version)
        number = int(tpl.get("version", {}).get("versionNumber", 0))
        return Fetched(template=tpl, etag=self.sim.etag(project, namespace, number))

    def publish(
        self,
        project: str,
        namespace: str,
        template: dict[str, Any],
        etag: str,
        *,
        description: str,
        validate_only: bool = False,
    ) -> Fetched:
        self.calls.append("validate" if validate_only else "publish")
        body = {**template, "version": {"description": description}}
        try:
            done = self.sim.put(
                project,
                namespace,
                body,
                etag,
                user="releasectl@test",
                origin="REST_API",
                validate_only=validate_only,
            )
        except _Error as exc:
            if exc.status == 412:
                raise EtagMismatch(exc.message) from None
            raise
        number = int(done.get("version", {}).get("versionNumber", 0))
        return Fetched(template=done, etag=self.sim.etag(project, namespace, number))

    def console(
        self,
        project: str,
        namespace: str,
        edit: Callable[[dict[str, Any]], None],
        user: str = "alice@avalo.app",
    ) -> Version:
        tpl = json.loads(json.dumps(self.sim.get(project, namespace)))
        edit(tpl)
        tpl.pop("version", None)
        done = self.sim.put(project, namespace, tpl, "*", user=user, origin="CONSOLE")
        return Version.model_validate(done["version"])

    def list_versions(self, project: str, namespace: str, page_size: int = 20) -> list[Version]:
        return [
            Version.model_validate(v) for v in self.sim.list_versions(project, namespace, page_size)
        ]

    def rollback(self, project: str, namespace: str, version: int) -> Fetched:
        raise NotImplementedError


class Store:
    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = {k: dict(v) for k, v in docs.items()}
        self.audit: dict[str, AuditEntry] = {}
        self.versions: dict[str, dict[str, int]] = {}

    def all_docs(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.docs.items()}

    def get_doc(self, flag: str) -> dict[str, Any] | None:
        return self.docs.get(flag)

    def audit_entry(self, flag: str, audit_id: str) -> AuditEntry | None:
        return self.audit.get(audit_id)

    def audit_log(self, flag: str, limit: int) -> list[AuditEntry]:
        return [e for e in self.audit.values() if e.flag == flag][:limit]

    def record(self, entry: AuditEntry, restore: FlagRevert | None) -> AuditEntry:
        return self.audit.setdefault(entry.id, entry)

    def change(self, flag: str, change: Change, actor: str, now: datetime) -> Flag:
        current = parse_flag(flag, self.docs[flag]) if flag in self.docs else None
        new = change(current)
        self.docs[flag] = {**new.to_doc(), "updatedBy": actor}
        return new

    def note_versions(self, flag: str, audit_id: str, versions: dict[str, int]) -> None:
        self.versions[audit_id] = versions


class Notices:
    def __init__(self) -> None:
        self.sent: list[AuditEntry] = []

    def publish(self, entry: AuditEntry) -> None:
        self.sent.append(entry)


def governor(api: SimApi, store: Store) -> RemoteConfigGovernor:
    publisher = TemplatePublisher(plane=PLANE, stores=lambda _p: store, api=api)
    return RemoteConfigGovernor(
        plane=PLANE,
        stores=lambda _p: store,
        api=api,
        publisher=publisher,
        notices=Notices(),
        letters=FakeDeadLetters(),
        clock=lambda: NOW,
    )


def event(project: str, version: Version, event_id: str = "evt-1") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": EVENT_TYPE,
        "source": f"//firebaseremoteconfig.googleapis.com/projects/{project}",
    }


def handle(
    gov: RemoteConfigGovernor, project: str, version: Version, eid: str = "evt-1"
) -> list[AuditEntry]:
    return govern_remote_config_event(gov, event(project, version, eid), version.to_json())


def test_a_forbidden_console_edit_is_reverted_by_publishing_ours_and_audited() -> None:
    api, store = SimApi(), Store(DOCS)
    gov = governor(api, store)
    gov.publisher.publish("production")
    edit = api.console(PROD, SERVER, set_default("panicTracking", "false"))
    (entry,) = handle(gov, PROD, edit)
    assert entry.action == "reverted" and entry.flag == "panicTracking"
    assert (
        entry.actor == f"alice@avalo.app (Remote Config console, {SERVER} v{edit.version_number})"
    )
    now = api.get(PROD, SERVER)
    assert now.version.version_number == edit.version_number + 1 and now.version.ours
    assert templates.read(SERVER, now.template, "panicTracking") == templates.ON
    assert store.versions[entry.id][SERVER] == now.version.version_number
    assert gov.notices.sent == [entry]  # type: ignore[attr-defined]
    # Our revert comes back as an event too: recognised, nothing read, nothing written.
    api.calls.clear()
    assert handle(gov, PROD, now.version, "evt-2") == [] and api.calls == []
    # A redelivery of the console edit finds it superseded by our revert.
    assert handle(gov, PROD, edit) == []


def test_an_allowed_console_edit_is_adopted_into_firestore() -> None:
    api, store = SimApi(), Store(DOCS)
    gov = governor(api, store)
    gov.publisher.publish("production")
    edit = api.console(PROD, CLIENT, set_percent("25"))
    (entry,) = handle(gov, PROD, edit)
    assert entry.action == "changed" and "rollout 10% → 25%" in entry.reason
    assert store.docs["videoCalls"]["rolloutPercent"] == 25
    assert store.docs["videoCalls"]["updatedBy"].startswith("alice@avalo.app (Remote Config")
    assert api.get(PROD, CLIENT).version.version_number == edit.version_number  # not reverted
    assert handle(gov, PROD, edit) == []  # again: Firestore now agrees, nothing to do


def test_edits_of_parameters_we_do_not_manage_are_ignored() -> None:
    api, store = SimApi(), Store(DOCS)
    gov = governor(api, store)
    gov.publisher.publish("staging")
    edit = api.console(
        STAGING, CLIENT, lambda t: t["parameters"].update(welcome={"defaultValue": {"value": "x"}})
    )
    assert handle(gov, STAGING, edit) == []
    assert api.get(STAGING, CLIENT).version.version_number == edit.version_number


@pytest.mark.parametrize(
    ("attributes", "data", "why"),
    [
        (
            {"id": "e", "source": "//firebaseremoteconfig.googleapis.com/projects/p"},
            b"[1]",
            "JSON object",
        ),
        (
            {"id": "e", "source": "//firebaseremoteconfig.googleapis.com/projects/p"},
            b"{}",
            "versionNumber",
        ),
        (
            {"id": "e", "source": "//elsewhere/projects/p"},
            b'{"versionNumber": "3"}',
            "names no project",
        ),
        (
            {"id": "e", "source": "//firebaseremoteconfig.googleapis.com/projects/p"},
            b"\x08\xff",
            "protobuf",
        ),
        (
            {"id": "e", "source": "//firebaseremoteconfig.googleapis.com/projects/p"},
            b'{"versionNumber": "3", "updateOrigin": "SPACE"}',
            "updateOrigin",
        ),
    ],
)
def test_malformed_update_events_are_refused(
    attributes: dict[str, str], data: bytes, why: str
) -> None:
    with pytest.raises(Refused, match=why):
        decode_update(attributes, data)


def test_the_protobuf_event_decodes_like_the_json_one() -> None:
    from google.events.firebase.remoteconfig_v1 import RemoteConfigEventData

    message = RemoteConfigEventData(
        version_number=12,
        update_origin="CONSOLE",
        update_type="INCREMENTAL_UPDATE",
        update_user={"email": "alice@avalo.app"},
    )
    attrs = {"id": "e", "source": f"//firebaseremoteconfig.googleapis.com/projects/{PROD}"}
    update = decode_update(attrs, RemoteConfigEventData.serialize(message))
    assert update.version.version_number == 12 and update.version.who == "alice@avalo.app"
    assert update.version.update_origin == "CONSOLE" and update.project == PROD


def test_the_boundary_dead_letters_what_can_never_be_judged() -> None:
    api, store = SimApi(), Store(DOCS)
    gov = governor(api, store)
    attrs = {
        "id": "e9",
        "type": EVENT_TYPE,
        "source": "//firebaseremoteconfig.googleapis.com/projects/nobody",
    }
    assert govern_remote_config_event(gov, attrs, b'{"versionNumber": "1"}') == []
    assert govern_remote_config_event(gov, {**attrs, "id": "e10"}, b"not json") == []
    letters = gov.letters.store.dead_letters  # type: ignore[attr-defined]
    reasons = sorted(str(letter.reason) for letter in letters.values())
    assert any("belongs to no configured environment" in r for r in reasons)
    assert len(reasons) == 2 and api.calls == []


def test_an_event_judges_only_the_template_it_names() -> None:
    """Events do not name the template, and both number their versions from 1: mallory's
    server v2 must not be taken for alice's client v2."""
    api, store = SimApi(), Store(DOCS)
    gov = governor(api, store)
    gov.publisher.publish("production")
    mallory = api.console(PROD, SERVER, set_default("panicTracking", "false"), "mallory@x.io")
    alice = api.console(PROD, CLIENT, set_percent("25"))
    assert mallory.version_number == alice.version_number
    (reverted,) = handle(gov, PROD, mallory)
    assert reverted.flag == "panicTracking" and reverted.action == "reverted"
    assert store.docs["videoCalls"]["rolloutPercent"] == 10  # not adopted as mallory's edit
    (adopted,) = handle(gov, PROD, alice, "evt-2")
    assert adopted.flag == "videoCalls" and adopted.actor.startswith("alice@avalo.app")


# -- publishing from the guard: every judged write publishes; failures alert -------------------


class FailingPublisher:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def publish(self, env: str, why: str = "") -> Any:
        raise self.exc


def guarded_write(event_id: str = "w-1") -> Any:
    from shared.flags.events import FlagWrite

    return FlagWrite(
        event_id=event_id,
        project=PROD,
        flag="videoCalls",
        before={"enabled": True, "rolloutPercent": 10},
        after={"enabled": True, "rolloutPercent": 20, "updatedBy": "ops", "updatedAt": NOW},
        after_update_ns=1,
        auth_id=None,
        at=NOW,
    )


def flag_guard(store: Store, publisher: Any) -> Any:
    from shared.flags.handler import FlagGuard

    return FlagGuard(
        plane=PLANE,
        stores=lambda _p: store,
        notices=Notices(),
        letters=FakeDeadLetters(),
        clock=lambda: NOW,
        publisher=publisher,
    )


def test_the_guard_publishes_each_write_and_records_the_versions_on_its_audit_entry() -> None:
    api, store = SimApi(), Store({**DOCS, "videoCalls": {"enabled": True, "rolloutPercent": 20}})
    guard = flag_guard(store, TemplatePublisher(plane=PLANE, stores=lambda _p: store, api=api))
    entry = guard.handle(guarded_write())
    assert entry.action == "changed"
    assert store.versions[entry.id] == {SERVER: 1, CLIENT: 1}
    assert templates.read(
        SERVER, api.get(PROD, SERVER).template, "videoCalls"
    ) == templates.Delivery(False, micro=20_000_000, seed="videoCalls")
    guard.handle(guarded_write())  # a redelivery: same entry, nothing new to publish
    assert api.get(PROD, SERVER).version.version_number == 1


def test_a_publish_that_fails_alerts_once_per_change_and_is_retried() -> None:
    from shared.flags.versions import RemoteConfigUnavailable

    store = Store(DOCS)
    guard = flag_guard(store, FailingPublisher(RemoteConfigUnavailable("429 quota")))
    with pytest.raises(RemoteConfigUnavailable):
        guard.handle(guarded_write())  # escapes: the trigger is delivered again
    (alert,) = guard.notices.sent[-1:]
    assert alert.action == "publish_failed" and "retrying" in alert.reason
    assert alert.id.endswith("-publish")  # its notice key: one alert per change


def test_a_template_remote_config_refuses_alerts_and_is_not_retried() -> None:
    from shared.flags.versions import TemplateRejected

    guard = flag_guard(Store(DOCS), FailingPublisher(TemplateRejected("bad key")))
    entry = guard.handle(guarded_write())  # returns: redelivering cannot help
    assert entry.action == "changed"
    alert = guard.notices.sent[-1]
    assert alert.action == "publish_failed" and "refused" in alert.reason


def test_a_conflict_met_by_the_validation_is_read_again_and_applied_again() -> None:
    class RacesValidation(SimApi):
        raced = False

        def publish(self, project: str, namespace: str, *args: Any, **kwargs: Any) -> Fetched:
            if kwargs.get("validate_only") and not self.raced:
                self.raced = True
                self.console(project, namespace, lambda t: t["parameters"].update(x={}))
            return super().publish(project, namespace, *args, **kwargs)

    api, store = RacesValidation(), Store(DOCS)
    publisher = TemplatePublisher(plane=PLANE, stores=lambda _p: store, api=api)
    done = publisher.publish("production")
    assert api.raced and done.wrote[SERVER]
    template = api.get(PROD, SERVER).template
    assert "x" in template["parameters"]  # the racing edit survived
    assert templates.read(SERVER, template, "panicTracking") == templates.ON
