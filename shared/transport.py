"""From a Pub/Sub CloudEvent to a typed message, and from an outcome to an HTTP answer.

functions-framework turns a Pub/Sub push into a `google.cloud.pubsub.topic.v1.messagePublished`
CloudEvent: data `{"message": {"data": base64, "attributes": {...}, "messageId": ...},
"subscription": ...}`; the CloudEvent id is the Pub/Sub message id, stable across redeliveries.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.dead_letters import decoded
from shared.errors import Refused


@dataclass(frozen=True)
class PubSubMessage:
    event_id: str
    data: bytes
    attributes: dict[str, str]


def unwrap(event_id: str, data: Any) -> PubSubMessage:
    """The Pub/Sub message inside a CloudEvent's data; `Refused` if it is not one, whatever
    is wrong with it (unwrapping is decoding: see `shared.dead_letters.decoded`)."""
    return decoded(lambda raw: _unwrap(event_id, raw), data, what="Pub/Sub envelope")


def _unwrap(event_id: str, data: Any) -> PubSubMessage:
    if isinstance(data, bytes | str):
        data = _json(data)
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict):
        raise Refused("CloudEvent data has no Pub/Sub `message` object")
    try:
        body = base64.b64decode(message.get("data") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise Refused("Pub/Sub message data is not valid base64") from None
    attributes = message.get("attributes")
    attributes = {} if attributes is None else attributes
    if not isinstance(attributes, dict):
        raise Refused("Pub/Sub message attributes must be an object")
    return PubSubMessage(event_id, body, {str(k): str(v) for k, v in attributes.items()})


def _json(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("CloudEvent data is not JSON") from None


Decoder = Callable[[PubSubMessage], object]
