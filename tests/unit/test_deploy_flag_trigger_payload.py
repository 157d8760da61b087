"""The Firestore trigger the plan deploys delivers protobuf `DocumentEventData` on Google Cloud:
a real protobuf-encoded event decodes through the flags helper (`shared.flags.events`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.events.cloud.firestore import Document, DocumentEventData, Value
from google.protobuf.timestamp_pb2 import Timestamp

from shared.deploy.plan import FIRESTORE_WRITTEN, FLAG_DOCUMENTS
from shared.errors import Refused
from shared.flags.events import decode_flag_write

PROJECT = "acme-avalo-prod"
NAME = f"projects/{PROJECT}/databases/(default)/documents/featureFlags/videoCalls"


def attributes(event_id: str = "evt-1") -> dict[str, str]:
    # what Eventarc sets on the CloudEvent for the trigger the plan deploys
    return {
        "id": event_id,
        "type": FIRESTORE_WRITTEN,
        "source": f"//firestore.googleapis.com/projects/{PROJECT}/databases/(default)",
        "subject": "documents/featureFlags/videoCalls",
        "datacontenttype": "application/protobuf",
        "time": "2026-11-25T12:00:00.123456Z",
        "authid": "console-user@example.com",
    }


def document(percent: float, enabled: bool, seconds: int) -> Document:
    return Document(
        name=NAME,
        fields={
            "enabled": Value(boolean_value=enabled),
            "rolloutPercent": Value(double_value=percent),
            "owner": Value(string_value="calls-team"),
            "denyUsers": Value(array_value={"values": [Value(string_value="u-1")]}),
        },
        update_time=Timestamp(seconds=seconds, nanos=500),
    )


def test_the_path_pattern_matches_what_the_decoder_accepts() -> None:
    assert FLAG_DOCUMENTS == "featureFlags/{flag}"


def test_a_protobuf_update_event_decodes() -> None:
    raw = DocumentEventData.serialize(
        DocumentEventData(
            value=document(25.0, True, 1_795_000_000),
            old_value=document(10.0, False, 1_794_999_000),
        )
    )
    assert isinstance(raw, bytes) and not raw.startswith(b"{")
    write = decode_flag_write(attributes(), raw)
    assert (write.project, write.flag, write.event_id) == (PROJECT, "videoCalls", "evt-1")
    assert write.after == {
        "enabled": True,
        "rolloutPercent": 25.0,
        "owner": "calls-team",
        "denyUsers": ["u-1"],
    }
    assert write.before is not None and write.before["enabled"] is False
    assert write.after_update_ns == 1_795_000_000 * 1_000_000_000 + 500
    assert write.auth_id == "console-user@example.com"
    assert write.at == datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_protobuf_delete_event_has_no_after() -> None:
    raw = DocumentEventData.serialize(DocumentEventData(old_value=document(5.0, True, 1)))
    write = decode_flag_write(attributes("evt-2"), raw)
    assert write.after is None and write.before is not None
    assert write.flag == "videoCalls"


def test_a_protobuf_event_outside_feature_flags_is_refused() -> None:
    other = Document(name=f"projects/{PROJECT}/databases/(default)/documents/users/u-1")
    raw = DocumentEventData.serialize(DocumentEventData(value=other))
    with pytest.raises(Refused, match="not a featureFlags"):
        decode_flag_write(attributes(), raw)


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(Refused, match="not a DocumentEventData"):
        decode_flag_write(attributes(), b"\xff\xfe\x00garbage")
