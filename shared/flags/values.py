"""Firestore's typed JSON values (`{"integerValue": "10"}` …) to plain Python values.

Types a flag never holds (geo points, references, bytes) become `Foreign`, which validation
reports as a wrong type instead of guessing a conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.api_core.datetime_helpers import DatetimeWithNanoseconds

from shared.errors import Refused


@dataclass(frozen=True)
class Foreign:
    """A Firestore value of a type flags never use; kept only to be reported and audited."""

    kind: str
    text: str

    def __str__(self) -> str:
        return f"<{self.kind} {self.text}>"


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 with nanoseconds (`…Z`, as Firestore writes it) or with an offset (`+00:00`,
    as some CloudEvent SDKs render the event time)."""
    try:
        parsed: datetime = DatetimeWithNanoseconds.from_rfc3339(text)  # type: ignore[no-untyped-call]
        return parsed
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(f"not an RFC 3339 timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        raise Refused(f"timestamp without a time zone: {text!r}")
    return parsed


def from_value(value: Any) -> Any:
    if not isinstance(value, dict) or len(value) != 1:
        raise Refused("a Firestore value must be an object with exactly one type key")
    ((kind, raw),) = value.items()
    return _DECODERS.get(kind, _foreign(kind))(raw)


def from_fields(fields: Any) -> dict[str, Any]:
    if fields is None:
        return {}
    if not isinstance(fields, dict):
        raise Refused("document `fields` must be an object")
    return {str(k): from_value(v) for k, v in fields.items()}


def _integer(raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Refused(f"bad integerValue {raw!r}") from None


def _double(raw: Any) -> float:
    if isinstance(raw, str):  # JSON spells NaN and infinities as strings
        return float(raw)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    raise Refused(f"bad doubleValue {raw!r}")


def _array(raw: Any) -> list[Any]:
    values = (raw or {}).get("values") or [] if isinstance(raw, dict) else None
    if not isinstance(values, list):
        raise Refused("bad arrayValue")
    return [from_value(v) for v in values]


def _map(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Refused("bad mapValue")
    return from_fields(raw.get("fields"))


def _foreign(kind: str) -> Any:
    return lambda raw: Foreign(kind.removesuffix("Value"), str(raw)[:200])


_DECODERS: dict[str, Any] = {
    "nullValue": lambda raw: None,
    "booleanValue": lambda raw: raw if isinstance(raw, bool) else _foreign("booleanValue")(raw),
    "integerValue": _integer,
    "doubleValue": _double,
    "stringValue": lambda raw: str(raw),
    "timestampValue": lambda raw: parse_timestamp(str(raw)),
    "arrayValue": _array,
    "mapValue": _map,
}


def to_plain(value: Any) -> Any:
    """A value safe to store in an audit entry or put in JSON (foreign types as text)."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str | datetime):
        return value
    return str(value)
