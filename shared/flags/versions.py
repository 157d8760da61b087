"""Remote Config template versions and the errors of the REST API, as values. Pure.

`Version` is the `version` object of a template and the data of Eventarc's
`google.firebase.remoteconfig.remoteConfig.v1.updated` CloudEvent (same fields).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from shared.errors import ControlPlaneError, Refused

# Our publishes say so in the version description; console edits always have origin CONSOLE.
OUR_MARK = "releasectl:"
Origin = Literal["REMOTE_CONFIG_UPDATE_ORIGIN_UNSPECIFIED", "CONSOLE", "REST_API", "ADMIN_SDK_NODE"]
UpdateType = Literal[
    "REMOTE_CONFIG_UPDATE_TYPE_UNSPECIFIED", "INCREMENTAL_UPDATE", "FORCED_UPDATE", "ROLLBACK"
]


class User(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    email: str = ""
    name: str = ""


class Version(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    version_number: int = Field(ge=0)
    update_time: datetime | None = None
    update_user: User = User()
    update_origin: Origin = "REMOTE_CONFIG_UPDATE_ORIGIN_UNSPECIFIED"
    update_type: UpdateType = "REMOTE_CONFIG_UPDATE_TYPE_UNSPECIFIED"
    description: str = ""
    rollback_source: int | None = None

    @field_validator("version_number", "rollback_source", mode="before")
    @classmethod
    def _int64(cls, value: Any) -> Any:
        # The REST API writes int64 as a JSON string ("12").
        if isinstance(value, str) and value.isdigit() and len(value) < 19:
            return int(value)
        return value

    @property
    def ours(self) -> bool:
        return self.update_origin != "CONSOLE" and self.description.startswith(OUR_MARK)

    @property
    def who(self) -> str:
        return self.update_user.email or self.update_user.name or "unknown user"

    def same_as(self, other: Version) -> bool:
        """Whether an event names this template version. Events do not say which template
        (client or server) changed and each numbers its versions on its own, so the number
        alone may name the other one: who and how must match too. (Not the time: its
        precision may differ between the event and the template; two templates at the same
        number by the same user and origin are both that user's edits, so judging both is
        right.)"""
        return (
            self.version_number == other.version_number
            and self.update_user == other.update_user
            and self.update_origin == other.update_origin
            and self.update_type == other.update_type
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Fetched(BaseModel):
    """A template as the API returned it, with its ETag (the `If-Match` of the next publish)."""

    model_config = ConfigDict(frozen=True)
    template: dict[str, Any]
    etag: str

    @property
    def version(self) -> Version:
        return Version.model_validate(self.template.get("version") or {"versionNumber": 0})


class EtagMismatch(ControlPlaneError):
    """412: the template changed since we read it (re-read and apply again)."""


class TemplateRejected(Refused):
    """400: Remote Config refused the template (validation); it will never be accepted."""


class RemoteConfigUnavailable(ControlPlaneError):
    """429 / 5xx / network after the retries: transient, try again later."""
