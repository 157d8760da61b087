"""Decoding Eventarc's `google.firebase.remoteconfig.remoteConfig.v1.updated` CloudEvent.

The data is the new template version (`versionNumber`, `updateUser`, `updateOrigin`,
`updateType`, …): JSON, or the `RemoteConfigEventData` protobuf; the source names the project
(`//firebaseremoteconfig.googleapis.com/projects/{project}`). Pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.errors import Refused
from shared.flags.versions import Version

EVENT_TYPE = "google.firebase.remoteconfig.remoteConfig.v1.updated"
_SOURCE = re.compile(r"^//firebaseremoteconfig\.googleapis\.com/projects/([^/]+)$")


@dataclass(frozen=True)
class RemoteConfigUpdate:
    event_id: str
    project: str
    version: Version


def decode_update(attributes: Mapping[str, Any], data: Any) -> RemoteConfigUpdate:
    """`Refused` for anything that is not a Remote Config update event."""
    event_id = str(attributes.get("id") or "")
    if not event_id:
        raise Refused("Remote Config event without an id")
    if attributes.get("type") not in (None, EVENT_TYPE):
        raise Refused(f"not a Remote Config update event: type {attributes.get('type')!r}")
    match = _SOURCE.match(str(attributes.get("source") or ""))
    if match is None:
        raise Refused(f"Remote Config event source {attributes.get('source')!r} names no project")
    payload = _payload(data)
    if "versionNumber" not in payload:
        raise Refused("Remote Config event data has no versionNumber")
    try:
        version = Version.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Refused(f"Remote Config event data: {where}: {first['msg']}") from None
    if version.version_number < 1:
        raise Refused("Remote Config event data: versionNumber must be at least 1")
    return RemoteConfigUpdate(event_id=event_id, project=match.group(1), version=version)


def _payload(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if isinstance(data, str):
        data = data.encode()
    if not isinstance(data, bytes):
        raise Refused("Remote Config event data is neither JSON nor protobuf")
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            parsed = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Refused("Remote Config event data is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise Refused("Remote Config event data must be a JSON object")
        return parsed
    return _from_protobuf(data)


def _from_protobuf(data: bytes) -> dict[str, Any]:
    from google.events.firebase.remoteconfig_v1 import RemoteConfigEventData

    try:
        message = RemoteConfigEventData.deserialize(data)
        parsed: dict[str, Any] = json.loads(
            RemoteConfigEventData.to_json(message, indent=None, use_integers_for_enums=False)
        )
    except Exception:  # protobuf raises its own DecodeError family
        raise Refused("Remote Config event data is not a RemoteConfigEventData protobuf") from None
    return parsed
