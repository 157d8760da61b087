"""Crashlytics alerts: decoding the recorded CloudEvent shape, what each alert does, and a
malformed alert dead-lettered with its reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from shared.config import PlaneConfig
from shared.domain.effects import BreachAlert
from shared.entrypoints import crashlytics_alert
from shared.errors import Refused
from shared.mobile.alerts import decode_alert
from shared.mobile.crashlytics import CrashlyticsAlerts
from shared.mobile.messages import CrashBreach
from tests.unit.fakes import FakeClock, FakeDeadLetters
from tests.unit.test_mobile_trains import MOBILE, _plane

RECORDED = json.loads(
    (Path(__file__).parent.parent / "golden" / "crashlytics_velocity_alert.json").read_text()
)
ANDROID_APP = RECORDED["attributes"]["appid"]


def recorded(**changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    attributes, data = copy.deepcopy(RECORDED["attributes"]), copy.deepcopy(RECORDED["data"])
    attributes.update(changes)
    return attributes, data


def test_the_recorded_velocity_alert_decodes_with_its_build() -> None:
    alert = decode_alert(*recorded())
    assert (alert.alert_type, alert.app_id, alert.build) == (
        "crashlytics.velocity",
        ANDROID_APP,
        4102,
    )
    assert alert.payload.crash_percentage == 1.7 and alert.payload.issue is not None
    assert alert.payload.issue.title.startswith("java.lang.NullPointerException")


def test_json_bytes_and_protobuf_bytes_decode_alike() -> None:
    from google.events.firebase.firebasealerts_v1.types import AlertData

    attributes, data = recorded()
    as_json = decode_alert(attributes, json.dumps(data).encode())
    proto = AlertData.from_json(json.dumps(data), ignore_unknown_fields=True)
    as_proto = decode_alert(attributes, AlertData.serialize(proto))
    assert as_json.build == as_proto.build == 4102
    assert as_proto.payload.crash_count == 412


@pytest.mark.parametrize(
    ("attributes", "data", "expected"),
    [
        ({"alerttype": "billing.planUpdate"}, None, "not a Crashlytics alert"),
        ({"type": "google.cloud.pubsub.topic.v1.messagePublished"}, None, "not a Firebase alert"),
        ({"appid": ""}, None, "without an appid"),
        ({}, {"payload": {"issue": {"title": "x"}}}, "payload"),
        ({}, b"\xff\xfe not json", "neither JSON nor an AlertData"),
        ({}, b"[1, 2]", "JSON object"),
    ],
)
def test_malformed_alerts_are_refused_naming_the_problem(
    attributes: dict[str, Any], data: Any, expected: str
) -> None:
    attrs, body = recorded(**attributes)
    with pytest.raises(Refused, match=expected):
        decode_alert(attrs, body if data is None else data)


class Found:
    def release_of(self, platform: str, build: int) -> str | None:
        return "3.1.0" if (platform, build) == ("android", 4102) else None


@pytest.fixture
def alerts(plane: PlaneConfig) -> tuple[CrashlyticsAlerts, list[Any], list[Any]]:
    android = {**MOBILE["android"], "firebase_app_id": ANDROID_APP}
    cfg = _plane(plane, android=android).mobile
    assert cfg is not None
    breaches: list[tuple[CrashBreach, str]] = []
    notices: list[BreachAlert] = []
    handler = CrashlyticsAlerts(
        cfg=cfg,
        trains=Found(),
        report=lambda b, k: breaches.append((b, k)),
        notify=notices.append,
        letters=FakeDeadLetters(),
        clock=FakeClock(),
    )
    return handler, breaches, notices


def _event(attributes: dict[str, Any], data: Any) -> CloudEvent:
    return CloudEvent(attributes, data)


def test_a_velocity_alert_for_a_build_being_rolled_out_is_a_breach(alerts: Any) -> None:
    handler, breaches, notices = alerts
    assert crashlytics_alert(handler, _event(*recorded())) == "breach"
    ((breach, key),) = breaches
    assert (breach.release, breach.platform, breach.build, breach.signal) == (
        "3.1.0",
        "android",
        4102,
        "crashlytics",
    )
    assert "1.7% of users crashed" in breach.reason and key.startswith("crashlytics/5f3e9f35")
    assert notices == []


def test_a_regression_or_an_unknown_build_only_notifies(alerts: Any) -> None:
    handler, breaches, notices = alerts
    crashlytics_alert(handler, _event(*recorded(alerttype="crashlytics.regression")))
    attributes, data = recorded()
    data["payload"]["issue"]["appVersion"] = "2.0.0 (100)"
    crashlytics_alert(handler, _event(attributes, data))
    assert breaches == [] and len(notices) == 2
    assert "came back" in (notices[0].reason or "")


def test_a_malformed_or_foreign_alert_is_a_dead_letter(alerts: Any) -> None:
    handler, breaches, notices = alerts
    assert crashlytics_alert(handler, _event(*recorded(appid="1:9:ios:ffff"))) == "refused"
    attributes, _ = recorded(id="another-alert")
    assert crashlytics_alert(handler, _event(attributes, {"payload": []})) == "refused"
    reasons = [letter.reason for letter in handler.letters.store.dead_letters.values()]
    assert any("no [mobile] platform names" in r for r in reasons), reasons
    assert any("payload" in r for r in reasons)
    assert breaches == [] and notices == []
