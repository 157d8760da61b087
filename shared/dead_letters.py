"""Dead letters: messages that can never be valid, kept where an operator looks
(`deadLetters/{key}`, `releasectl dead-letters`) and acknowledged, never retried.

One decode boundary (`decoded`) and one way to write a letter (`refuse`, into the
`DeadLetters` port of `shared.service.ports`) for every function: the release bus, the
metrics and notification consumers, the flag guard, and `on_dead_letter` (messages Pub/Sub
gave up on after its delivery attempts).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TypeVar

from pydantic import Field

from shared.domain.model import Doc
from shared.errors import Refused
from shared.redaction import redact

log = logging.getLogger(__name__)
A = TypeVar("A")
T = TypeVar("T")

# Follow-up messages the bus sends itself (a step's result, a verdict): their ids are derived
# from the event that caused them, so they need no topic to be unique.
INTERNAL = "internal"
PAYLOAD_CAP = 4096
REASON_CAP = 1000
ATTRIBUTE_CAP = 200
# Attributes Pub/Sub adds to a message it moves to a dead-letter topic.
PUBSUB_DEAD_LETTER_PREFIX = "CloudPubSubDeadLetterSource"
DELIVERY_COUNT = f"{PUBSUB_DEAD_LETTER_PREFIX}DeliveryCount"


def event_key(topic: str, event_id: str) -> str:
    """The id an event is remembered by. A Pub/Sub message id is unique within its topic only,
    so two topics' messages with the same id must not be taken for one another."""
    return event_id if topic == INTERNAL else f"{topic}:{event_id}"


def doc_id(key: str) -> str:
    return key.replace("/", "|")  # follow-up ids contain '/', which Firestore ids may not


class DeadLetter(Doc):
    """A message that can never be valid (`deadLetters/{topic}:{eventId}`)."""

    event_id: str
    reason: str
    topic: str
    received_at: datetime
    payload: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    delivery_attempts: int | None = None  # set when Pub/Sub gave up on it
    last_error: str | None = None

    @property
    def key(self) -> str:
        return event_key(self.topic, self.event_id)


class DeliveryFailure(Doc):
    """The last transient failure of one message, kept so that if Pub/Sub gives up on it the
    dead letter can say why (`deliveryFailures/{fingerprint}`)."""

    fingerprint: str
    topic: str
    event_id: str
    error: str
    at: datetime


def letter(
    *,
    event_id: str,
    topic: str,
    reason: str,
    payload: bytes,
    attributes: Mapping[str, str],
    now: datetime,
    delivery_attempts: int | None = None,
    last_error: str | None = None,
) -> DeadLetter:
    """The dead letter of a message: secret-free, size-capped and storable, whatever the
    message held (a letter Firestore refused would send its message round again)."""
    return DeadLetter(
        event_id=_text(event_id, REASON_CAP),
        reason=_text(reason, REASON_CAP),
        topic=topic,
        received_at=now,
        payload=_text(payload.decode("utf-8", errors="replace"), PAYLOAD_CAP),
        attributes={_field(k): _text(v, ATTRIBUTE_CAP) for k, v in attributes.items()},
        delivery_attempts=delivery_attempts,
        last_error=_text(last_error, REASON_CAP) if last_error else None,
    )


def bare(letter: DeadLetter) -> DeadLetter:
    """The letter without what it quoted of the message: what is kept when the store refuses
    the whole letter, so that the message is still acknowledged and its reason kept."""
    reason = f"{letter.reason} (its payload and attributes could not be stored)"
    return letter.model_copy(update={"payload": "", "attributes": {}, "reason": reason})


def _text(value: str, cap: int) -> str:
    """Redacted, capped, and valid UTF-8 (a lone surrogate from a JSON `\\ud800` escape is not,
    and Firestore refuses it)."""
    # cut before redacting (a secret is far shorter than the slack): a megabyte of text is
    # never scanned, and nothing past the cap can be shown anyway
    return redact(value[: cap * 4])[:cap].encode("utf-8", errors="replace").decode("utf-8")


def _field(name: str) -> str:
    """An attribute name as a Firestore map key: never empty, never `__reserved__`."""
    name = _text(name, ATTRIBUTE_CAP)
    reserved = name.startswith("__") and name.endswith("__")
    return f"[{name}]" if not name or reserved else name


def brief(exc: BaseException, cap: int = 200) -> str:
    """`Type: message`, short: a 1 MB value quoted in an error must not fill a dead letter."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text if len(text) <= cap else text[: cap - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def decoded(decode: Callable[[A], T], raw: A, *, what: str) -> T:
    """Run a pure decoder. Decoding does no I/O, so whatever it raises (a `RecursionError` from
    JSON nested a thousand levels deep, the `ValueError` of a 5,000-digit integer, a bug met by
    an odd shape) will be raised again by every redelivery: the message is refused, never
    retried."""
    try:
        return decode(raw)
    except Refused:
        raise
    except Exception as exc:
        raise Refused(f"{what} cannot be decoded: {brief(exc)}") from None


def fingerprint(topic: str, data: bytes, attributes: Mapping[str, str]) -> str:
    """Names a message by its content: Pub/Sub gives a dead-lettered message a new id, but keeps
    its data and attributes (and adds its own `CloudPubSubDeadLetterSource*` ones)."""
    own = {k: v for k, v in attributes.items() if not k.startswith(PUBSUB_DEAD_LETTER_PREFIX)}
    digest = hashlib.sha256(topic.encode())
    digest.update(b"\0" + json.dumps(own, sort_keys=True).encode() + b"\0")
    digest.update(data)
    return digest.hexdigest()


def refuse(
    put: Callable[[DeadLetter], None],
    reason: str,
    *,
    event_id: str,
    topic: str,
    payload: bytes,
    attributes: Mapping[str, str],
    now: datetime,
) -> DeadLetter:
    """Dead-letter a message that can never be valid (`put` stores the letter; the caller then
    acknowledges the message)."""
    dead = letter(
        event_id=event_id,
        topic=topic,
        reason=reason,
        payload=payload,
        attributes=attributes,
        now=now,
    )
    put(dead)
    log.warning("refused: %s", dead.reason, extra={"event_id": event_id, "topic": topic})
    return dead
