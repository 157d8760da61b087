"""Decoding the Firestore `google.cloud.firestore.document.v1.written` CloudEvent.

Locally the emulator sends JSON; on Google Cloud the data is a protobuf `DocumentEventData`.
Both become one `FlagWrite`: the document before and after (None when absent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clock import utcnow
from shared.errors import Refused
from shared.flags import values

COLLECTION = "featureFlags"
_DOC_NAME = re.compile(r"^projects/([^/]+)/databases/[^/]+/documents/featureFlags/([^/]+)$")


@dataclass(frozen=True)
class FlagWrite:
    event_id: str
    project: str
    flag: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    after_update_ns: int | None  # the written version, to revert only what we judged
    auth_id: str | None  # who wrote it, when the event carries auth context
    at: datetime


def timestamp_ns(value: datetime) -> int:
    nanos = getattr(value, "nanosecond", value.microsecond * 1000)
    return int(value.replace(microsecond=0).timestamp()) * 1_000_000_000 + int(nanos)


def _json_data(data: Any, content_type: str) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if isinstance(data, str):
        data = data.encode()
    if not isinstance(data, bytes):
        raise Refused("Firestore event data is neither JSON nor protobuf")
    if "json" in content_type or data[:1] == b"{":
        try:
            parsed = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Refused("Firestore event data is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise Refused("Firestore event data must be a JSON object")
        return parsed
    return _from_protobuf(data)


def _from_protobuf(data: bytes) -> dict[str, Any]:
    from google.events.cloud.firestore import DocumentEventData

    try:
        message = DocumentEventData.deserialize(data)
    except Exception:  # protobuf raises its own DecodeError family
        raise Refused("Firestore event data is not a DocumentEventData protobuf") from None
    # Same camelCase JSON shape as the emulator sends, so one decoder serves both.
    parsed: dict[str, Any] = json.loads(DocumentEventData.to_json(message, indent=None))
    return parsed


def _document(raw: Any) -> tuple[str | None, dict[str, Any] | None, int | None]:
    if not raw or not isinstance(raw, dict) or not raw.get("name"):
        return None, None, None
    update = raw.get("updateTime")
    update_ns = timestamp_ns(values.parse_timestamp(update)) if update else None
    return str(raw["name"]), values.from_fields(raw.get("fields")), update_ns


def decode_flag_write(attributes: Mapping[str, Any], data: Any) -> FlagWrite:
    """`Refused` when the event is not a write to `featureFlags/{flag}`."""
    payload = _json_data(data, str(attributes.get("datacontenttype") or ""))
    after_name, after, after_ns = _document(payload.get("value"))
    before_name, before, _ = _document(payload.get("oldValue"))
    match = _DOC_NAME.match(after_name or before_name or "")
    if match is None:
        raise Refused(f"not a {COLLECTION}/{{flag}} document: {after_name or before_name!r}")
    return FlagWrite(
        event_id=str(attributes.get("id") or ""),
        project=match.group(1),
        flag=match.group(2),
        before=before,
        after=after,
        after_update_ns=after_ns,
        auth_id=str(attributes["authid"]) if attributes.get("authid") else None,
        at=_event_time(attributes.get("time")),
    )


def _event_time(value: Any) -> datetime:
    """When the write happened; only informative, so an odd value falls back to now."""
    if isinstance(value, datetime):
        return value
    try:
        return values.parse_timestamp(str(value))
    except Refused:
        return utcnow()
