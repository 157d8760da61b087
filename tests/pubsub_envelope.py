"""The CloudEvent data functions-framework hands a function for a Pub/Sub push."""

from __future__ import annotations

import base64
from typing import Any


def envelope(data: bytes, attributes: dict[str, str] | None = None, message_id: str = "1") -> Any:
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": attributes or {},
            "messageId": message_id,
        },
        "subscription": "projects/demo-release-control/subscriptions/test",
    }
