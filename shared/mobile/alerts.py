"""Crashlytics alerts from Firebase Alerts via Eventarc (pure decoding).

The CloudEvent: type `google.firebase.firebasealerts.alerts.v1.published`, extension
attributes `alerttype` (e.g. `crashlytics.velocity`) and `appid`; data `AlertData`
(`createTime`, `endTime`, `payload` typed by `@type`, e.g. `…CrashlyticsVelocityAlertPayload`
with `issue{id,title,subtitle,appVersion}`, `crashCount`, `crashPercentage`, `firstVersion`).
Eventarc delivers the data as JSON; protobuf bytes (google-events `AlertData`) decode too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import Refused

ALERT_EVENT = "google.firebase.firebasealerts.alerts.v1.published"
# alerttype → what it means for a release train (docs/MOBILE.md, "What each alert means")
CRASHLYTICS_ALERTS = {
    "crashlytics.velocity": "a confirmed breach: halt the build's trains",
    "crashlytics.regression": "notify: a closed issue came back",
    "crashlytics.newFatalIssue": "notify: a new crash",
    "crashlytics.newNonfatalIssue": "notify: a new non-fatal error",
    "crashlytics.newAnrIssue": "notify: a new ANR",
    "crashlytics.stabilityDigest": "notify: the daily trending issues",
}
VELOCITY = "crashlytics.velocity"
_BUILD_IN_VERSION = re.compile(r"\((\d{1,10})\)\s*$")


class Issue(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)
    id: str = Field(max_length=200)
    title: str = Field("", max_length=2000)
    subtitle: str = Field("", max_length=2000)
    app_version: str = Field("", alias="appVersion", max_length=200)


class Payload(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)
    type: str = Field(alias="@type", max_length=300)
    issue: Issue | None = None
    crash_count: int | None = Field(None, alias="crashCount", ge=0)
    crash_percentage: float | None = Field(None, alias="crashPercentage", ge=0)
    first_version: str | None = Field(None, alias="firstVersion", max_length=200)


class CrashlyticsAlert(BaseModel):
    model_config = ConfigDict(frozen=True)
    alert_type: str
    app_id: str
    create_time: datetime | None = None
    payload: Payload

    @property
    def build(self) -> int | None:
        """The build the alert is about: Crashlytics shows versions as `3.1.0 (4102)`."""
        version = self.payload.issue.app_version if self.payload.issue else ""
        m = _BUILD_IN_VERSION.search(version)
        if m:
            return int(m.group(1))
        return int(version) if version.isdigit() else None


def _data(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, bytes | str):
        try:
            loaded = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            return _protobuf(raw if isinstance(raw, bytes) else raw.encode())
        if isinstance(loaded, dict):
            return loaded
    raise Refused(f"alert data must be a JSON object, got {type(raw).__name__}")


def _protobuf(raw: bytes) -> dict[str, Any]:
    from google.events.firebase.firebasealerts_v1.types import AlertData

    try:
        data = AlertData.deserialize(raw)
    except Exception:
        raise Refused("alert data is neither JSON nor an AlertData protobuf") from None
    decoded: dict[str, Any] = json.loads(AlertData.to_json(data))
    return decoded


def decode_alert(attributes: Mapping[str, Any], raw: Any) -> CrashlyticsAlert:
    """The alert, or `Refused` naming what is wrong."""
    if attributes.get("type") != ALERT_EVENT:
        raise Refused(f"not a Firebase alert: event type {attributes.get('type')!r}")
    kind, app = attributes.get("alerttype"), attributes.get("appid")
    if kind not in CRASHLYTICS_ALERTS:
        raise Refused(f"alert type {kind!r} is not a Crashlytics alert we handle")
    if not app:
        raise Refused("alert without an appid attribute")
    data = _data(raw)
    try:
        return CrashlyticsAlert(
            alert_type=str(kind),
            app_id=str(app),
            create_time=data.get("createTime"),
            payload=Payload.model_validate(data.get("payload")),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise Refused(f"{kind} alert: payload {loc}: {first['msg']}") from None
